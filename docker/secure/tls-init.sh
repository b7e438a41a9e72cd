#!/bin/sh
# tls-init, the first job of the secured compose stack (compose.secure.yml).
# It runs as root in the apache/kafka image (busybox and a JRE's keytool)
# and lays out the certificates `silt stack certs` wrote to docker/certs
# (bind-mounted read-only at /certs) in the tls volume (/tls), each private
# key owned by the one user that reads it, whatever the host's owner and
# umask were:
#
#   /tls/ca.crt             0444  the CA: silt, mc, Kafka's and Trino's clients
#   /tls/truststore.jks     0444  the CA for the JVMs' own TLS clients (S3 from
#                                 Trino and the Hive Metastore), which read no PEM
#   /tls/minio/             0400  MinIO's --certs-dir: public.crt, private.key
#                                 and CAs/ca.crt (MinIO runs as root)
#   /tls/kafka/server.pem   0400  key and certificate, owned by Kafka's appuser
#   /tls/trino/server.pem   0400  key and certificate, owned by Trino (uid 1000)
set -eu

in=/certs
out=/tls
kafka_uid=$(id -u appuser) # the user this same image runs Kafka as
trino_uid=1000             # trinodb/trino's trino user

# put SRC DST MODE UID: a copy only its reader can read, never briefly more.
put() {
	mkdir -p "$(dirname "$2")"
	rm -f "$2"
	(umask 077 && cp "$1" "$2")
	chown "$4:$4" "$2"
	chmod "$3" "$2"
}

chmod 0755 "$out"
put "$in/ca.crt" "$out/ca.crt" 0444 0
put "$in/server.crt" "$out/minio/public.crt" 0444 0
put "$in/server.key" "$out/minio/private.key" 0400 0
put "$in/ca.crt" "$out/minio/CAs/ca.crt" 0444 0
put "$in/server.pem" "$out/kafka/server.pem" 0400 "$kafka_uid"
put "$in/server.pem" "$out/trino/server.pem" 0400 "$trino_uid"
chmod 0755 "$out/minio" "$out/minio/CAs" "$out/kafka" "$out/trino"

# A JKS trust store holding only the CA. The JVMs load it without a
# password (javax.net.ssl.trustStorePassword unset), which skips only the
# integrity check a store password would give: it holds no key, nothing
# secret. keytool insists on a password, so it gets a random one, unkept.
rm -f "$out/truststore.jks"
keytool -importcert -noprompt -alias silt-stack-ca -file "$in/ca.crt" \
	-keystore "$out/truststore.jks" -storetype JKS \
	-storepass "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
chmod 0444 "$out/truststore.jks"

echo "tls-init: certificates of $in laid out in $out"
