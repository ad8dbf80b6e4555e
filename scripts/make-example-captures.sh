#!/usr/bin/env bash
# Regenerates the small sample captures in examples/ from real programs on
# loopback: Python's http.server with curl (IPv4 and IPv6, keep-alive),
# dnsmasq answering dig over UDP and TCP, and ping. Needs root and Debian's
# tcpdump, tshark (dumpcap), dnsmasq-base, dnsutils, curl, iputils-ping.
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m http.server 18080 --bind :: --directory "$work" >/dev/null 2>&1 &
printf 'hello from flowtap\n' >"$work/hello.txt"
head -c 20000 /dev/zero | tr '\0' 'x' >"$work/big.txt"
dnsmasq --no-daemon --port=15353 --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
  --no-hosts --address=/example.test/10.1.2.3 --address=/example.test/fd00::1 >/dev/null 2>&1 &
sleep 1

dumpcap -q -i lo -w "$work/lo.pcapng" -f 'port 18080 or port 15353 or icmp' >/dev/null 2>&1 &
dump1=$!
tcpdump -q -i any --time-stamp-precision=nano -w "$work/any.pcap" 'port 18080 or port 15353' >/dev/null 2>&1 &
dump2=$!
sleep 2

curl -s -o /dev/null -o /dev/null http://127.0.0.1:18080/hello.txt http://127.0.0.1:18080/big.txt
curl -s -o /dev/null -g 'http://[::1]:18080/hello.txt'
curl -s -o /dev/null http://127.0.0.1:18080/missing
dig +short @127.0.0.1 -p 15353 example.test A >/dev/null
dig +short @127.0.0.1 -p 15353 example.test AAAA >/dev/null
dig +short +tcp @127.0.0.1 -p 15353 example.test A >/dev/null
ping -c 2 -i 0.2 127.0.0.1 >/dev/null
sleep 1
kill -INT $dump1 $dump2
wait $dump1 $dump2 2>/dev/null || true

cp "$work/lo.pcapng" "$out/loopback-http-dns.pcapng"
cp "$work/any.pcap" "$out/any-sll2-nanosecond.pcap"
ls -l "$out"
