/*
 * The limit of flow tracking on this machine: mmap a classic pcap, walk the
 * record headers, read each packet's Ethernet (VLAN tags skipped) ->
 * IPv4/IPv6 -> TCP/UDP 5-tuple, put it in canonical (bidirectional) order
 * and count the packet and its bytes in an open-addressing table (power of
 * two slots, linear probing, doubled at half full).
 *
 * What it leaves out is what makes a real tracker slower: no timeouts, no
 * TCP state, no originator, no fragment reassembly (a later fragment counts
 * in a flow without ports), no bounds beyond staying inside the packet.
 * Non-IP packets are walked but belong to no flow.
 *
 *   cc -O2 -o flow_walk benches/c/flow_walk.c && ./flow_walk FILE.pcap
 *
 * Prints one JSON line:
 * {"name":"c_flow_walk","packets","seconds","pps","mbps","bytes","flows",...}
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct key {
    uint8_t a[16], b[16]; /* the lower (addr, port) end first */
    uint16_t pa, pb;
    uint8_t proto, family;
    uint8_t pad[2];
};

struct slot {
    struct key k;     /* 40 bytes */
    uint32_t used;    /* 0 = empty */
    uint32_t hash;
    uint64_t packets; /* both directions */
    uint64_t bytes;   /* captured bytes, both directions */
};                    /* 64 bytes: one cache line */

static struct slot *tab;
static uint64_t cap, count;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "flow_walk: %s: %s\n", path, what);
    exit(1);
}

static inline uint64_t ld64(const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t mix(uint64_t h, uint64_t w) {
    h ^= w;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static inline uint32_t hash_key(const struct key *k) {
    const uint8_t *p = (const uint8_t *)k;
    uint64_t h = 0x243F6A8885A308D3ull;
    h = mix(h, ld64(p));
    h = mix(h, ld64(p + 8));
    h = mix(h, ld64(p + 16));
    h = mix(h, ld64(p + 24));
    h = mix(h, ld64(p + 32));
    h ^= h >> 32;
    return (uint32_t)h;
}

static struct slot *alloc_table(uint64_t n) {
    struct slot *t = calloc(n, sizeof *t);
    if (!t) die("out of memory", "table");
    return t;
}

static void grow(void) {
    uint64_t ncap = cap * 2, mask = ncap - 1;
    struct slot *nt = alloc_table(ncap);
    for (uint64_t i = 0; i < cap; i++) {
        if (!tab[i].used) continue;
        uint64_t j = tab[i].hash & mask;
        while (nt[j].used) j = (j + 1) & mask;
        nt[j] = tab[i];
    }
    free(tab);
    tab = nt;
    cap = ncap;
}

static inline void count_packet(const struct key *k, uint32_t caplen) {
    uint32_t h = hash_key(k);
    uint64_t mask = cap - 1, i = h & mask;
    for (;;) {
        struct slot *s = &tab[i];
        if (!s->used) break;
        if (s->hash == h && memcmp(&s->k, k, sizeof *k) == 0) {
            s->packets++;
            s->bytes += caplen;
            return;
        }
        i = (i + 1) & mask;
    }
    tab[i].k = *k;
    tab[i].used = 1;
    tab[i].hash = h;
    tab[i].packets = 1;
    tab[i].bytes = caplen;
    if (++count * 2 > cap) grow();
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Fills *k from an Ethernet frame; returns 0 if the frame is not IP. */
static int five_tuple(const uint8_t *p, uint32_t n, struct key *k) {
    uint32_t off = 12;
    if (n < 14) return 0;
    uint16_t et = be16(p + off);
    while ((et == 0x8100 || et == 0x88a8 || et == 0x9100) && off + 6 <= n) {
        off += 4;
        et = be16(p + off);
    }
    off += 2;
    uint8_t src[16] = {0}, dst[16] = {0};
    uint8_t proto;
    int ports = 1;
    if (et == 0x0800) {
        if (off + 20 > n) return 0;
        const uint8_t *ip = p + off;
        uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
        if (ihl < 20) return 0;
        proto = ip[9];
        memcpy(src, ip + 12, 4);
        memcpy(dst, ip + 16, 4);
        if (be16(ip + 6) & 0x1fff) ports = 0; /* later fragment */
        off += ihl;
        k->family = 4;
    } else if (et == 0x86dd) {
        if (off + 40 > n) return 0;
        const uint8_t *ip = p + off;
        proto = ip[6];
        memcpy(src, ip + 8, 16);
        memcpy(dst, ip + 24, 16);
        off += 40;
        /* hop-by-hop, routing, destination options, fragment */
        for (int hops = 0; hops < 8; hops++) {
            if (proto == 0 || proto == 43 || proto == 60) {
                if (off + 8 > n) return 0;
                uint8_t next = p[off];
                off += ((uint32_t)p[off + 1] + 1) * 8;
                proto = next;
            } else if (proto == 44) {
                if (off + 8 > n) return 0;
                if (be16(p + off + 2) & 0xfff8) ports = 0;
                proto = p[off];
                off += 8;
            } else {
                break;
            }
        }
        k->family = 6;
    } else {
        return 0;
    }
    uint16_t sp = 0, dp = 0;
    if (ports && (proto == 6 || proto == 17) && off + 4 <= n) {
        sp = be16(p + off);
        dp = be16(p + off + 2);
    }
    int c = memcmp(src, dst, 16);
    if (c < 0 || (c == 0 && sp <= dp)) {
        memcpy(k->a, src, 16);
        memcpy(k->b, dst, 16);
        k->pa = sp;
        k->pb = dp;
    } else {
        memcpy(k->a, dst, 16);
        memcpy(k->b, src, 16);
        k->pa = dp;
        k->pb = sp;
    }
    k->proto = proto;
    k->pad[0] = k->pad[1] = 0;
    return 1;
}

static inline uint32_t rd32(const uint8_t *p, int swap) {
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: flow_walk FILE.pcap\n");
        return 2;
    }
    const char *path = argv[1];
    double t0 = now();
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) die("cannot stat", path);
    size_t size = (size_t)st.st_size;
    if (size < 24) die("too short for a pcap header", path);
    const uint8_t *d = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (d == MAP_FAILED) die("mmap failed", path);
    madvise((void *)d, size, MADV_SEQUENTIAL);

    uint32_t magic;
    memcpy(&magic, d, 4);
    int swap;
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) swap = 0;
    else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u) swap = 1;
    else die("not a classic pcap (pcapng is not read)", path);
    if ((rd32(d + 20, swap) & 0xffff) != 1) die("link type is not Ethernet", path);

    cap = 1 << 16;
    tab = alloc_table(cap);
    uint64_t packets = 0, bytes = 0, ip_packets = 0;
    size_t off = 24;
    while (off + 16 <= size) {
        uint32_t caplen = rd32(d + off + 8, swap);
        off += 16;
        if (caplen > size - off) break;
        packets++;
        bytes += caplen;
        struct key k;
        if (five_tuple(d + off, caplen, &k)) {
            ip_packets++;
            count_packet(&k, caplen);
        }
        off += caplen;
    }
    double seconds = now() - t0;

    /* Fold the table so the counters cannot be optimized away. */
    uint64_t check = 0, counted = 0;
    for (uint64_t i = 0; i < cap; i++) {
        if (!tab[i].used) continue;
        counted += tab[i].packets;
        check = check * 31 + tab[i].bytes;
    }
    if (counted != ip_packets) die("table lost packets", path);
    if (seconds < 1e-9) seconds = 1e-9;
    printf("{\"name\":\"c_flow_walk\",\"packets\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"mbps\":%.2f,"
           "\"bytes\":%llu,\"flows\":%llu,\"ipPackets\":%llu,\"tableSlots\":%llu,\"slotBytes\":%zu,\"check\":\"%016llx\"}\n",
           (unsigned long long)packets, seconds, (double)packets / seconds, (double)bytes / 1e6 / seconds,
           (unsigned long long)bytes, (unsigned long long)count, (unsigned long long)ip_packets,
           (unsigned long long)cap, sizeof(struct slot), (unsigned long long)check);
    return 0;
}
