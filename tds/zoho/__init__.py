"""The Zoho client: reads Books, Inventory and CRM within one budget shared through Redis.

:mod:`tds.zoho.client` is the client, :mod:`tds.zoho.errors` its two classes of error,
:mod:`tds.zoho.shared` the client each process shares, and :mod:`tds.zoho.budget` what is left
of the shared budget (read without loading the client).
"""
