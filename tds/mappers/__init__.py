"""One mapper per entity: a Zoho record in, a :class:`tds.mapping.Mapped` out.

Mappers are pure functions of the record and the context; they do no I/O. The registry
names each entity's mapper.
"""
