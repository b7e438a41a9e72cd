#!/bin/bash
# The Kafka admin client of the secured compose stack (compose.secure.yml),
# run inside the apache/kafka image: as the PLAIN user admin over the
# SASL_SSL listener kafka:9092, trusting the stack's CA. The password is the
# Docker secret /run/secrets/kafka_admin_password; the client config that
# holds it is a private temporary file, removed on exit.
#
#   admin.sh ready                        the broker answers (kafka's health check)
#   admin.sh scram-user NAME SECRET_FILE  set NAME's SCRAM-SHA-512 and -256
#                                         credentials to the password in
#                                         SECRET_FILE (the kafka-init job)
set -euo pipefail

bootstrap=kafka:9092
ca=/etc/silt/tls/ca.crt

admin_password=$(cat /run/secrets/kafka_admin_password)
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
chmod 0600 "$conf"
cat >"$conf" <<CONF
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin_password";
ssl.truststore.type=PEM
ssl.truststore.location=$ca
CONF

case "${1:-}" in
ready)
	/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server "$bootstrap" --command-config "$conf" >/dev/null
	;;
scram-user)
	user=$2
	password=$(cat "$3")
	# SCRAM credentials live in the cluster metadata: setting them again on
	# every start is harmless and picks up a changed password.
	/opt/kafka/bin/kafka-configs.sh --bootstrap-server "$bootstrap" --command-config "$conf" \
		--alter --entity-type users --entity-name "$user" \
		--add-config "SCRAM-SHA-512=[password=$password],SCRAM-SHA-256=[password=$password]"
	;;
*)
	echo "usage: admin.sh ready | scram-user NAME SECRET_FILE" >&2
	exit 2
	;;
esac
