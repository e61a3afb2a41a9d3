# One image for every zes role; the command picks the role:
#   stream worker   zes stream worker
#   case intake     zes enforce intake
#   review app      zes enforce serve
#   migrations      zes enforce migrate
#   edge agent      zes edge run --config /etc/zes/site.yaml   (models mounted at /models)
# Build from the repository root: docker build -t zes .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The objection dossier's PDF fonts (enforcement/casework/dossier.py; no network at run time).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A dedicated, unprivileged user; its home holds the work dir (spools, caches).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/zes --create-home zes

WORKDIR /opt/zes
# Dependencies first (pinned in pyproject.toml), so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY zes ./zes
COPY enforcement ./enforcement
COPY edge ./edge
COPY stream ./stream
RUN pip install --no-compile . && rm -rf /root/.cache

USER zes
ENV HOME=/var/lib/zes \
    ZES_WORK_DIR=/var/lib/zes \
    ZES_MODEL_DIR=/models
WORKDIR /var/lib/zes
# Metrics: stream 9102, intake 9103, review 9104, edge 9108; review app 8080.
EXPOSE 9102 9103 9104 9108 8080
ENTRYPOINT ["zes"]
CMD ["--help"]
