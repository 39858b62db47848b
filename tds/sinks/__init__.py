"""Destinations for mapped Zoho records, and the change log of what a write changed.

``sql`` writes the ERP tables TDS owns; ``odoo`` mirrors products into Odoo.
"""
