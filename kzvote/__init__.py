"""kzvote: election forensics for polling-station results."""

__version__ = "0.1.0"

#: Version of the JSON report layout; bumped on any renamed or removed key.
SCHEMA_VERSION = "1.1"  # 1.1: analyze adds stations, stations_summary
