{# Base image: Debian + Python + git, a venv at /opt/venv with pip and uv.
   The first instruction is either `python:X.Y-slim` where a registry is reachable
   (`registry_image`), or a root filesystem made from Debian's packages (`FROM scratch` + ADD).
   The CA bundle given with --ca-cert (default: SSL_CERT_FILE) is trusted by apt, pip and uv, so
   builds work behind TLS-intercepting proxies.
   Variables: python (X.Y), registry_image (an image name, or none). #}
{% if registry_image %}
FROM {{ registry_image }}
{% else %}
FROM scratch
ADD rootfs.tar /
{% endif %}
LABEL swegym.python.version="{{ python }}"
COPY ca.crt /usr/local/share/ca-certificates/swegym-extra.crt
{# UV_COMPILE_BYTECODE: `pip install` goes through uv (the pip shim), and uv writes no .pyc where
   pip does; a dependency compiled at test time can then warn (SyntaxWarning), and a project that
   turns warnings into errors (flask's `filterwarnings = error`) fails to collect. #}
ENV DEBIAN_FRONTEND=noninteractive \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    UV_NATIVE_TLS=1 \
    UV_SYSTEM_CERTS=1 \
    UV_COMPILE_BYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/swegym/bin:/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{# The slim images lack git and patch; a debootstrap root filesystem was made with them. #}
RUN {% if registry_image %}apt-get update -qq && apt-get install -y -qq --no-install-recommends git patch ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/* && {% endif %}update-ca-certificates >/dev/null \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install -q --upgrade pip uv \
 && git config --system user.email swegym@localhost && git config --system user.name swegym \
 && git config --system --add safe.directory '*'
COPY pip /opt/swegym/bin/pip
RUN chmod 0755 /opt/swegym/bin/pip && python --version && uv --version
