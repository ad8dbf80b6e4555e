/*
 * Baseline for the injection benchmark: one sendto() per frame on an
 * AF_PACKET socket (what a program without a TX ring does), the same
 * frames as flowtap sends. Prints frames sent, seconds and CPU seconds.
 *
 *   cc -O2 -o sendto_frames sendto_frames.c && ./sendto_frames IFACE FRAMES SIZE
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s IFACE FRAMES SIZE\n", argv[0]);
    return 2;
  }
  long n = atol(argv[2]);
  int size = atoi(argv[3]);
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("socket"); return 1; }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = if_nametoindex(argv[1]);
  sll.sll_halen = 6;
  if (!sll.sll_ifindex) { fprintf(stderr, "no such interface\n"); return 1; }
  unsigned char frame[65536] = {0};
  unsigned char dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
  memcpy(frame, dst, 6);
  memcpy(frame + 6, src, 6);
  frame[12] = 0x88; frame[13] = 0xb5;
  long sent = 0;
  double t0 = now();
  for (long i = 0; i < n; i++) {
    memcpy(frame + 14, &i, sizeof i);
    if (sendto(fd, frame, size, 0, (struct sockaddr *)&sll, sizeof sll) == size) sent++;
  }
  double t1 = now();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf("{\"frames\":%ld,\"seconds\":%.6f,\"cpu\":%.6f}\n", sent, t1 - t0, cpu);
  return 0;
}
