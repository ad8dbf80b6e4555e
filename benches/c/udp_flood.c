/*
 * Sender for the live-capture benchmark: small UDP datagrams (18-byte
 * payload: "flowtap-bench", a 32-bit sequence number, a pad byte) with
 * sendmmsg in batches of 64, cycling through 1024 connected sockets, so
 * 1024 source ports (a flow consumer has flows to track), to DST:PORT until
 * COUNT have been sent or SECONDS have passed (0: no time limit). Prints
 * one JSON line: packets sent, seconds, packets per second, and how often
 * the kernel refused a batch (ENOBUFS/EAGAIN; retried).
 *
 *   cc -O2 -o udp_flood udp_flood.c && ./udp_flood DST PORT COUNT [SECONDS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define SOCKS 1024
#define PAYLOAD 18

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s DST PORT COUNT [SECONDS]\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  long count = atol(argv[3]);
  double limit = argc == 5 ? atof(argv[4]) : 0;
  if (count <= 0 || limit < 0) {
    fprintf(stderr, "COUNT must be positive, SECONDS not negative\n");
    return 2;
  }
  static int socks[SOCKS];
  for (int i = 0; i < SOCKS; i++) {
    socks[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (socks[i] < 0) { perror("socket"); return 1; }
    if (connect(socks[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
  }
  static unsigned char payload[BATCH][PAYLOAD];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    memcpy(payload[i], "flowtap-bench", 13);
    payload[i][PAYLOAD - 1] = 0;
    iov[i].iov_base = payload[i];
    iov[i].iov_len = PAYLOAD;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  long sent = 0, refused = 0;
  int s = 0;
  double t0 = now(), end = limit > 0 ? t0 + limit : 0;
  while (sent < count) {
    if (end > 0 && (sent & 4095) < BATCH && now() >= end) break;
    int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
    for (int i = 0; i < n; i++) {
      unsigned int seq = (unsigned int)(sent + i);
      memcpy(payload[i] + 13, &seq, 4);
    }
    int r = sendmmsg(socks[s], msgs, n, 0);
    if (r > 0) {
      sent += r;
    } else if (r < 0 && (errno == ENOBUFS || errno == EAGAIN)) {
      refused++;
      usleep(50);
    } else if (r < 0) {
      perror("sendmmsg");
      return 1;
    }
    s = (s + 1) % SOCKS;
  }
  double el = now() - t0;
  printf("{\"sent\":%ld,\"seconds\":%.6f,\"pps\":%.0f,\"refused\":%ld}\n", sent, el, sent / el, refused);
  return 0;
}
