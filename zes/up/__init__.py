"""`zes up`: the whole chain on 127.0.0.1, supervised, from one command.

Started in order, each waited for before the next: the Tansu broker, Redis (the configured one
when it answers, else a `redis-server` from PATH on a free port), the topics, a synthetic RDW
register (its own key prefix, so a real register in the same Redis is never replaced), a stream
worker, an edge agent on a looping drive-by video (when the plate models are present), the
case intake, the review app with a demo user of every role, and simulated cameras sending
register plates with an overview and a plate crop per passage (so every outcome shows up, not
only the foreign plates of the dev photos, and every case shows its images). Everything
lives under `<work_dir>/up`: logs, the spool, the video, the case database, and a
`prometheus.yml` that scrapes exactly the processes started.

The rooms:
- `supervisor`: child processes: start, readiness, restarts, periodic jobs, a bounded stop;
- `fixtures`: Redis, the synthetic register, the edge agent's site, the enforcement settings;
- `ports`: the documented ports, free unless a process listens on one;
- `users`: the demo's accounts, one of every role;
- `demo_env`: `zes up env`, the settings that point a shell at the running demo;
- `cameras` and `vehicle_images`: the simulated cameras and the images they publish;
- `summary`: metrics scraping, cases with evidence, the Prometheus scrape config;
- `chain`: the order the parts start in and how a run ends;
- `command`: the `zes up` command.
"""

from zes.up.chain import Up, UpConfig
from zes.up.fixtures import EnforcePlan
from zes.up.summary import prometheus_config, sum_by
from zes.up.supervisor import UpError

__all__ = ["EnforcePlan", "Up", "UpConfig", "UpError", "prometheus_config", "sum_by"]
