"""Compatibility imports: the Redis register moved to the `enforcement.register.redis`
package (one module per concern). New code imports from there."""

from enforcement.plates import plate_hash
from enforcement.register.redis.async_store import AsyncRedisRegister
from enforcement.register.redis.codec import (
    _ExemptionRec,
    _FuelRec,
    _VehicleRec,
    decode_exemptions,
    decode_vehicle,
    encode_exemptions,
    encode_vehicle,
)
from enforcement.register.redis.plans import RegisterReloadError
from enforcement.register.redis.sync_store import RedisRegister, register_from

__all__ = [
    "AsyncRedisRegister",
    "RedisRegister",
    "RegisterReloadError",
    "_ExemptionRec",
    "_FuelRec",
    "_VehicleRec",
    "decode_exemptions",
    "decode_vehicle",
    "encode_exemptions",
    "encode_vehicle",
    "plate_hash",
    "register_from",
]
