"""Odoo as a second destination for products: the XML-RPC client (:mod:`tds.odoo.client`),
the push of changed products (:mod:`tds.odoo.push`), what the CLI reports
(:mod:`tds.odoo.reports`) and the Odoo stand-in the tests run against
(:mod:`tds.odoo.standin`). Mapping and writing one product is :mod:`tds.sinks.odoo`."""
