{# Base image: Debian + Python + git, a venv at /opt/venv with pip and uv.
   The first instruction is either `python:X.Y-slim` where a registry is reachable
   (`registry_image`), or a root filesystem made from Debian's packages (`FROM scratch` + ADD).
   The CA bundle given with --ca-cert (default: SSL_CERT_FILE) is trusted by apt, pip and uv, so
   builds work behind TLS-intercepting proxies.
   With `--base uv` the root filesystem's Python only runs uv, which installs the exact Python
   (python-build-standalone, from `python_mirror` when given) that the venv is then made from.
   Variables: python (X.Y), registry_image (an image name, or none), uv_python (X.Y, or none),
   python_mirror (a URL, or none). #}
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
{% if uv_python %}
 && python3 -m venv /opt/uv && /opt/uv/bin/python -m pip install -q uv \
 && {% if python_mirror %}UV_PYTHON_INSTALL_MIRROR={{ python_mirror | sh_quote }} {% endif %}UV_PYTHON_INSTALL_DIR=/opt/python /opt/uv/bin/uv python install {{ uv_python | sh_quote }} \
 && UV_PYTHON_INSTALL_DIR=/opt/python /opt/uv/bin/uv venv --seed --python-preference only-managed --python {{ uv_python | sh_quote }} /opt/venv \
 && rm -rf /opt/uv /root/.cache \
{% else %}
 && python3 -m venv /opt/venv \
{% endif %}
 && /opt/venv/bin/python -m pip install -q --upgrade pip uv \
 && git config --system user.email swegym@localhost && git config --system user.name swegym \
 && git config --system --add safe.directory '*'
COPY pip /opt/swegym/bin/pip
{# SWE-bench's contract: `source /opt/miniconda3/bin/activate && conda activate testbed` works
   and selects /opt/venv (see dockerfiles/conda-activate). #}
COPY conda-activate /opt/miniconda3/bin/activate
RUN chmod 0755 /opt/swegym/bin/pip /opt/miniconda3/bin/activate \
 && mkdir -p /opt/miniconda3/envs && ln -s /opt/venv /opt/miniconda3/envs/testbed \
 && python --version && uv --version
