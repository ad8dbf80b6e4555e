#!/usr/bin/env bash
# Records the seed captures of the benchmark workload from real programs,
# across a veth pair into a network namespace this script creates (MTU 1500,
# segmentation offloads off, so packets look like a real link's):
#
#   http.pcap   Python's http.server ← curl: IPv4 and IPv6, keep-alive,
#               bodies from 0.5 kB to 1 MB, 404s, HEAD, POST uploads
#   dns.pcap    dnsmasq ← dig: A/AAAA/MX/TXT/CNAME/NXDOMAIN over UDP, some TCP
#   tls.pcap    openssl s_server ← openssl s_client / curl: TLS 1.2 and 1.3,
#               SNI, ALPN, resumption off, a few kB of application data
#
# gen_capture --sources benches/workload/seeds scales them (addresses and
# ports rewritten per replica, deterministic for a seed) to millions of
# packets. Needs root and Debian's python3, curl, dnsmasq, dnsutils,
# openssl, tcpdump, iproute2 (ethtool optional).
set -euo pipefail
cd "$(dirname "$0")"
out=$PWD/seeds
work=$(mktemp -d)
NS=ftw-rec
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  ip netns pids $NS 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del $NS 2>/dev/null || true
  ip link del ftw-rec0 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup
mkdir -p "$work" "$out"

ip netns add $NS
ip link add ftw-rec0 type veth peer name ftw-rec1
ip link set ftw-rec1 netns $NS
ip addr add 10.77.0.1/24 dev ftw-rec0
ip -6 addr add fd77::1/64 dev ftw-rec0 nodad
ip link set ftw-rec0 up
ip netns exec $NS ip addr add 10.77.0.2/24 dev ftw-rec1
ip netns exec $NS ip -6 addr add fd77::2/64 dev ftw-rec1 nodad
ip netns exec $NS ip link set ftw-rec1 up
ip netns exec $NS ip link set lo up
if command -v ethtool >/dev/null; then
  ethtool -K ftw-rec0 tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec $NS ethtool -K ftw-rec1 tso off gso off gro off >/dev/null 2>&1 || true
fi
sleep 1

# Servers, in the namespace.
mkdir -p "$work/www"
for n in 512 4096 20000 150000 1000000; do head -c $n /dev/urandom >"$work/www/f$n.bin"; done
printf '<html><body>flowtap workload</body></html>\n' >"$work/www/index.html"
ip netns exec $NS python3 -m http.server 8080 --bind :: --directory "$work/www" >/dev/null 2>&1 &
ip netns exec $NS dnsmasq --no-daemon --user=root --pid-file="$work/dnsmasq.pid" --port=53 --listen-address=10.77.0.2 --bind-interfaces --no-resolv --no-hosts \
  --address=/www.example.test/10.9.9.9 --address=/www.example.test/fd00:9::9 --address=/api.example.test/10.9.9.10 \
  --mx-host=example.test,mail.example.test,10 --txt-record=example.test,"v=spf1 -all" \
  --cname=alias.example.test,www.example.test >"$work/dnsmasq.log" 2>&1 &
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=tls.example.test" \
  -addext "subjectAltName=DNS:tls.example.test,DNS:alt.example.test" \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
ip netns exec $NS openssl s_server -accept 8443 -cert "$work/cert.pem" -key "$work/key.pem" -www -alpn h2,http/1.1 -no_ticket >/dev/null 2>&1 &
sleep 1.5

cap() { tcpdump -q --immediate-mode -U -i ftw-rec0 -s 0 --time-stamp-precision=nano -w "$work/$1.pcap" "$2" >/dev/null 2>"$work/$1.tcpdump.log" & echo $!; }
stop() { sleep 1.5; kill -INT "$1"; wait "$1" 2>/dev/null || true; }

p=$(cap http 'tcp port 8080'); sleep 1
for i in 1 2 3; do
  curl -s --max-time 10 -o /dev/null -o /dev/null -o /dev/null http://10.77.0.2:8080/index.html http://10.77.0.2:8080/f4096.bin http://10.77.0.2:8080/f20000.bin
  curl -s --max-time 10 -o /dev/null -g "http://[fd77::2]:8080/f512.bin"
  curl -s --max-time 10 -o /dev/null http://10.77.0.2:8080/missing-$i
  curl -s --max-time 10 -I -o /dev/null http://10.77.0.2:8080/f150000.bin
  curl -s --max-time 10 -o /dev/null -H 'Connection: close' -A "flowtap-workload/$i" http://10.77.0.2:8080/f150000.bin
  curl -s --max-time 10 -o /dev/null --data-binary @"$work/www/f4096.bin" http://10.77.0.2:8080/upload
done
curl -s --max-time 10 -o /dev/null http://10.77.0.2:8080/f1000000.bin
stop "$p"

p=$(cap dns 'port 53'); sleep 1
for name in www.example.test api.example.test alias.example.test nothere.example.test; do
  dig +short +tries=1 @10.77.0.2 "$name" A >/dev/null || true
  dig +short +tries=1 @10.77.0.2 "$name" AAAA >/dev/null || true
done
dig +short +tries=1 @10.77.0.2 example.test MX >/dev/null || true
dig +short +tries=1 @10.77.0.2 example.test TXT >/dev/null || true
dig +short +tries=1 +tcp @10.77.0.2 www.example.test A >/dev/null || true
dig +short +tries=1 +tcp @10.77.0.2 example.test MX >/dev/null || true
stop "$p"

p=$(cap tls 'tcp port 8443'); sleep 1
for v in -tls1_2 -tls1_3; do
  for sni in tls.example.test alt.example.test; do
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client -connect 10.77.0.2:8443 $v -servername $sni -alpn http/1.1 -ign_eof >/dev/null 2>&1 || true
  done
done
curl -sk --max-time 5 -o /dev/null --resolve tls.example.test:8443:10.77.0.2 https://tls.example.test:8443/ || true
curl -sk --max-time 5 -o /dev/null -g "https://[fd77::2]:8443/" || true
stop "$p"


for f in http dns tls; do cp "$work/$f.pcap" "$out/$f.pcap"; done
ls -l "$out"
