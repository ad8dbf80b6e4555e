#!/usr/bin/env bash
# Regenerates the plugin examples' fixtures in examples/plugins/ from real
# programs on loopback: Debian's redis-server driven by redis-cli (single
# commands, a pipelined batch, a large value split across segments) and
# mosquitto driven by mosquitto_pub/mosquitto_sub (MQTT 3.1.1 and 5, QoS 0/1/2,
# retained, a will). Needs root and tcpdump, redis-server, redis-tools,
# mosquitto, mosquitto-clients.
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/plugins
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
cat >"$work/mosq.conf" <<CONF
listener 11883 127.0.0.1
allow_anonymous true
persistence false
CONF
mosquitto -c "$work/mosq.conf" >/dev/null 2>&1 &
sleep 1

tcpdump -q -i lo --time-stamp-precision=nano -w "$work/redis.pcap" 'tcp port 16379' >/dev/null 2>&1 &
d1=$!
tcpdump -q -i lo --time-stamp-precision=nano -w "$work/mqtt.pcap" 'tcp port 11883' >/dev/null 2>&1 &
d2=$!
sleep 2

r() { redis-cli -p 16379 "$@" >/dev/null; }
r PING
r SET greeting 'hello flowtap'
r GET greeting
r INCR counter
r RPUSH list a b c
r LRANGE list 0 -1
r HSET h f1 v1 f2 v2
r HGETALL h
r GET missing
r NOSUCHCOMMAND x
# 100 kB value: the request and the reply span many segments.
head -c 100000 /dev/zero | tr '\0' 'v' >"$work/big"
redis-cli -p 16379 -x SET big <"$work/big" >/dev/null
r GET big
# Pipelined: 50 commands written at once.
for i in $(seq 1 50); do printf 'SET key:%d value-%d\r\n' "$i" "$i"; done | redis-cli -p 16379 --pipe >/dev/null
r DEL big

ms() { mosquitto_sub -p 11883 "$@"; }
mp() { mosquitto_pub -p 11883 "$@"; }
ms -V mqttv311 -t 'sensors/#' -C 3 -q 1 -i sub311 >/dev/null &
s1=$!
ms -V mqttv5 -t 'sensors/temp' -C 2 -q 2 -i sub5 >/dev/null &
s2=$!
sleep 1
mp -V mqttv311 -t sensors/temp -m '21.5' -q 0 -i pub311
mp -V mqttv311 -t sensors/hum -m '40' -q 1 -i pub311b --will-topic status/pub --will-payload gone
mp -V mqttv5 -t sensors/temp -m '22.0' -q 2 -i pub5 -D publish user-property unit celsius
mp -V mqttv311 -t status/retained -m 'up' -r -q 1 -i pubr
wait $s1 $s2 || true
sleep 1
kill -INT $d1 $d2
wait $d1 $d2 2>/dev/null || true

cp "$work/redis.pcap" "$out/redis.pcap"
cp "$work/mqtt.pcap" "$out/mqtt.pcap"
ls -l "$out"
