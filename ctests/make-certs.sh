#!/bin/sh
# Makes the certificates the TLS tests use, with the openssl command (3.0 or
# later), into DIR (created if needed; files of an earlier run are replaced):
#
#   ca.pem                          the test CA the tests trust (MIMIIO_CA_FILE)
#   server.pem, server.key          localhost, SAN DNS:localhost and IP:127.0.0.1
#   expired.pem, expired.key        the same names, valid only in 2020
#   selfsigned.pem, selfsigned.key  localhost, signed by its own key
#   other.pem, other.key            signed by the CA for other.example only
#   clientonly.pem, clientonly.key  localhost, signed by the CA, but its extended
#                                   key usage allows client authentication only
#   ca2.pem                         a second CA nobody trusts
#   untrusted.pem, untrusted.key    localhost, signed by the second CA
#
# Keys are unencrypted EC P-256. Nothing here is secret: it is made at test time
# and never committed.
#
# usage: make-certs.sh DIR
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
cd "$1"

# Extensions, one section per kind of certificate.
cat > ext.cnf <<'END'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[localhost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1

[clientonly]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1

[other]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
END

# new_key FILE
new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# new_csr NAME SUBJECT: NAME.key and a request NAME.csr for it.
new_csr() {
    new_key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
}

# signed NAME CA SUBJECT SECTION: NAME.pem signed by CA, valid for 10 days.
signed() {
    new_csr "$1" "$3"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 10 \
        -extfile ext.cnf -extensions "$4" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

# `openssl x509 -req` and `openssl req -x509` (3.0) only count days from now, so
# the test CA and the expired certificate come from `openssl ca`, which takes a
# start date, with a throw-away database. The CA is valid from 2019 until 10 days
# from now, so in the expired case only the certificate's own dates are wrong.
rm -rf ca-db
mkdir ca-db
: > ca-db/index.txt
openssl rand -hex 8 > ca-db/serial
cat > ca-db/ca.cnf <<'END'
[ca]
default_ca = test_ca

[test_ca]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none

[any_name]
commonName = supplied
END

# issue NAME ARGS...: NAME.pem from NAME.csr by `openssl ca` with ARGS.
issue() {
    name=$1
    shift
    openssl ca -batch -config ca-db/ca.cnf -notext -extfile ext.cnf "$@" \
        -in "$name.csr" -out "$name.pem" 2>/dev/null
    rm -f "$name.csr"
}

new_csr ca "/CN=mimiio test CA"
issue ca -selfsign -extensions ca -startdate 20190101000000Z -days 10

new_csr expired "/CN=localhost"
issue expired -extensions localhost -startdate 20200101000000Z -enddate 20201231235959Z
rm -rf ca-db

signed server ca "/CN=localhost" localhost
signed other ca "/CN=other.example" other
signed clientonly ca "/CN=localhost" clientonly

new_key ca2.key
openssl req -new -x509 -key ca2.key -subj "/CN=mimiio untrusted test CA" -days 10 \
    -config ext.cnf -extensions ca -out ca2.pem
signed untrusted ca2 "/CN=localhost" localhost

new_key selfsigned.key
openssl req -new -x509 -key selfsigned.key -subj "/CN=localhost" -days 10 \
    -config ext.cnf -extensions localhost -out selfsigned.pem
rm -f ext.cnf

# What the tests rely on, so that a wrong certificate fails here and not as a
# puzzling error number later.
openssl verify -CAfile ca.pem server.pem other.pem > /dev/null
if openssl verify -CAfile ca.pem -purpose sslserver clientonly.pem > /dev/null 2>&1; then
    echo "make-certs.sh: clientonly.pem is usable by a server" >&2
    exit 1
fi
openssl verify -CAfile ca2.pem untrusted.pem > /dev/null
openssl verify -CAfile ca.pem -attime 1600000000 expired.pem > /dev/null
if openssl verify -CAfile ca.pem expired.pem > /dev/null 2>&1; then
    echo "make-certs.sh: expired.pem verifies now" >&2
    exit 1
fi
openssl x509 -in server.pem -noout -checkhost localhost | grep -q 'does match'
openssl x509 -in server.pem -noout -checkip 127.0.0.1 | grep -q 'does match'
if openssl x509 -in other.pem -noout -checkhost localhost | grep -q 'does match'; then
    echo "make-certs.sh: other.pem matches localhost" >&2
    exit 1
fi
echo "certificates in $(pwd)"
