# Environment image: {{repo}} {{version}} at its environment commit with dependencies installed.
FROM {{base}}
{{system_packages}}
COPY testbed /testbed
COPY swegym /opt/swegym/env
WORKDIR /testbed
{{env}}
RUN UV_EXCLUDE_NEWER={{cutoff}} sh -ex /opt/swegym/env/install.sh
