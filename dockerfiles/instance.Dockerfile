{# Instance image: the repository at base_commit on its environment. The environment's checkout
   is replaced whole; history newer than base_commit is not in the new checkout (and the
   environment's layer is not visible from inside a container).
   Every install step is date-bounded: the reinstall resolves as of the environment's date too
   (today's setuptools, without pkg_resources, broke a 2021 setup.py here).
   Variables: instance_id, env_image, cutoff. #}
# Instance image: {{ instance_id }}, the repository at base_commit on its environment.
FROM {{ env_image }}
RUN rm -rf /testbed
COPY testbed /testbed
COPY swegym /opt/swegym/instance
WORKDIR /testbed
RUN UV_EXCLUDE_NEWER={{ cutoff }} sh -ex /opt/swegym/instance/install.sh
