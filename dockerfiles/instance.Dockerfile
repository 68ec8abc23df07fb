{# Instance image: the repository at base_commit on its environment. The environment's checkout
   is replaced whole; history newer than base_commit is not in the new checkout (and the
   environment's layer is not visible from inside a container).
   Variables: instance_id, env_image. #}
# Instance image: {{ instance_id }}, the repository at base_commit on its environment.
FROM {{ env_image }}
RUN rm -rf /testbed
COPY testbed /testbed
COPY swegym /opt/swegym/instance
WORKDIR /testbed
RUN sh -ex /opt/swegym/instance/install.sh
