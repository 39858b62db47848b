"""The mirrored entities, one family a module: its ERP tables and its mappers.

A mapper is a pure function ``mapper(entity, record, ctx) -> tds.mapping.Fields`` of one
Zoho record; it does no I/O. The registry names each entity's mapper and main table, and
reads the rest (Zoho id column, child tables, references) from the tables declared here.
A module here imports only :mod:`tds.mapping` and :mod:`tds.models` (whose helpers declare
the tables, and which loads every module here): never another mapper module nor the
registry, so that any import order leaves every table in ``tds.models.metadata``.
"""
