"""zes enforcement: the domain core (plates, vehicles, zones, exemptions, the ZE law),
the register, the records on the wire, and the enforcement services."""
