"""Destinations for mapped Zoho records. ``sql`` writes the ERP tables TDS owns."""
