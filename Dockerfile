# kerasnlp-lab:latest, the image deploy/training-job.yaml runs: `make setup`'s steps (the Debian
# data packages, then this package) on Debian bookworm's Python 3.11, as a non-root user.
#
#   make image                                  # docker build -t kerasnlp-lab:latest .
#   docker run --rm kerasnlp-lab:latest --help
#   docker run --rm -v $PWD/runs:/app/runs kerasnlp-lab:latest train autoencoder --epochs 1
#
# The working directory /app holds the repository (less .dockerignore), so the relative
# defaults of the command line (presets/, saved_models/, runs/, docs/) work as in a checkout.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TF_CPP_MIN_LOG_LEVEL=3

# `make data-packages`: the offline corpora (Fashion-MNIST, the KJV, WEB and Sparv Bibles).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      dataset-fashion-mnist sword-text-kjv sword-text-web sword-text-sparv \
 && rm -rf /var/lib/apt/lists/*

# The user the container runs as: numeric in USER below, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --gid 1000 kerasnlp \
 && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash kerasnlp

WORKDIR /app
COPY --chown=1000:1000 . .

# `make setup`'s pip step, without the dev extra and not editable.
RUN python -m pip install -q --upgrade pip \
 && python -m pip install -q . \
 && rm -rf build kerasnlp_lab.egg-info

USER 1000:1000
ENTRYPOINT ["kerasnlp-lab"]
CMD ["--help"]
