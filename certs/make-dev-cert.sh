#!/bin/sh
# SPDX-License-Identifier: MIT
# Make a self-signed development certificate for localhost and 127.0.0.1
# (ECDSA P-256, 825 days). Writes DIR/dev-cert.pem and DIR/dev-key.pem
# (DIR defaults to this script's folder); both are git-ignored. Never use
# it in production: nothing vouches for it but itself.
set -eu
dir=${1:-$(dirname "$0")}
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/dev-key.pem" -out "$dir/dev-cert.pem" -days 825 \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign" \
    -addext "extendedKeyUsage=serverAuth" 2>/dev/null
chmod 644 "$dir/dev-cert.pem"
echo "$dir/dev-cert.pem"
