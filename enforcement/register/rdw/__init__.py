"""The RDW open-data register files, read into `Vehicle`s in constant memory.

`sources` (reading the CSV and JSON files, header names), `values` (parsing single values),
`join` (the on-disk join of the secondary files by plate) and `load` (`read_vehicles`).
"""

from enforcement.register.rdw.load import read_vehicles
from enforcement.register.rdw.sources import (
    AXLE_FIELDS,
    BODY_CODE_FIELDS,
    BODY_FIELDS,
    FUEL_FIELDS,
    PARTICULARITY_FIELDS,
    VEHICLE_FIELDS,
    canonical_field,
    iter_json_objects,
)

__all__ = [
    "AXLE_FIELDS",
    "BODY_CODE_FIELDS",
    "BODY_FIELDS",
    "FUEL_FIELDS",
    "PARTICULARITY_FIELDS",
    "VEHICLE_FIELDS",
    "canonical_field",
    "iter_json_objects",
    "read_vehicles",
]
