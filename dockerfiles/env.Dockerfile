{# Environment image: one repository version at its environment commit, dependencies installed.
   Variables: repo, version, base (the base image), system_packages (list), env_vars (map),
   cutoff (the dependency cut-off date). Filters: sh_quote, docker_quote. #}
# Environment image: {{ repo }} {{ version }} at its environment commit with dependencies installed.
FROM {{ base }}
{% if system_packages %}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends {{ system_packages | map("sh_quote") | join(" ") }} >/dev/null && rm -rf /var/lib/apt/lists/*
{% endif %}
COPY testbed /testbed
COPY swegym /opt/swegym/env
WORKDIR /testbed
{% for name, value in env_vars | items %}
ENV {{ name }}={{ value | docker_quote }}
{% endfor %}
RUN UV_EXCLUDE_NEWER={{ cutoff }} sh -ex /opt/swegym/env/install.sh
