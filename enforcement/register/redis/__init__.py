"""The vehicle and exemption registers in Redis: one module per concern.

`codec` (stored values), `scripts` (Lua), `plans` (the key layout and every algorithm, no
I/O: the one public plan module), `routing` (what the stores need of a client: packing,
Cluster routing), and two thin stores that only run plans: `sync_store` (`RedisRegister`,
every operation) and `async_store` (`AsyncRedisRegister`, the stream's lookup, case claims
and day permits).
"""

from enforcement.register.redis.async_store import AsyncRedisRegister
from enforcement.register.redis.plans import RegisterReloadError
from enforcement.register.redis.sync_store import RedisRegister, register_from

__all__ = ["AsyncRedisRegister", "RedisRegister", "RegisterReloadError", "register_from"]
