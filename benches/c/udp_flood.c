/*
 * Sender for the live-capture benchmark: small UDP datagrams with sendmmsg
 * in batches of 64, cycling through 1024 source ports (so a flow consumer
 * has flows to track), to DST:PORT until COUNT have been sent. Prints
 * packets sent, seconds and the rate.
 *
 *   cc -O2 -o udp_flood udp_flood.c && ./udp_flood DST PORT COUNT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define SOCKS 1024

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s DST PORT COUNT\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
  long count = atol(argv[3]);
  int socks[SOCKS];
  for (int i = 0; i < SOCKS; i++) {
    socks[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (socks[i] < 0) { perror("socket"); return 1; }
    if (connect(socks[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
  }
  unsigned char payload[BATCH][18];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    memcpy(payload[i], "flowtap-bench", 13);
    iov[i].iov_base = payload[i];
    iov[i].iov_len = sizeof payload[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  long sent = 0;
  int s = 0;
  double t0 = now();
  while (sent < count) {
    int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
    for (int i = 0; i < n; i++) {
      unsigned int seq = (unsigned int)(sent + i);
      memcpy(payload[i] + 13, &seq, 4);
    }
    int r = sendmmsg(socks[s], msgs, n, 0);
    if (r > 0) sent += r;
    s = (s + 1) % SOCKS;
  }
  double el = now() - t0;
  printf("{\"sent\":%ld,\"seconds\":%.6f,\"pps\":%.0f}\n", sent, el, sent / el);
  return 0;
}
