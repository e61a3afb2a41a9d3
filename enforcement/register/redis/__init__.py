"""The vehicle and exemption registers in Redis: one module per concern.

`codec` (stored values), `scripts` (Lua), `plans` (the key layout and every algorithm, sans
I/O), `sync_store` (`RedisRegister`) and `async_store` (`AsyncRedisRegister`).
"""

from enforcement.register.redis.async_store import AsyncRedisRegister
from enforcement.register.redis.plans import RegisterReloadError
from enforcement.register.redis.sync_store import RedisRegister, register_from

__all__ = ["AsyncRedisRegister", "RedisRegister", "RegisterReloadError", "register_from"]
