"""Destinations for mapped Zoho records (:mod:`tds.sinks.base` says what one is).

``sql`` writes the ERP tables TDS owns; ``odoo`` mirrors products into Odoo.
"""
