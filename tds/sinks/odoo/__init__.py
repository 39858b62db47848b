"""Odoo as a second destination for products: the XML-RPC client (:mod:`tds.sinks.odoo.client`),
the push of changed products (:mod:`tds.sinks.odoo.push`), what the CLI reports
(:mod:`tds.sinks.odoo.reports`) and the Odoo stand-in the tests run against
(:mod:`tds.sinks.odoo.standin`). Mapping and writing one product is :mod:`tds.sinks.odoo.destination`."""
