/*
 * The machine's own stalls, seen from a real-time thread: sleeps 1 ms at a time on
 * CLOCK_MONOTONIC (SCHED_FIFO where permitted, so nothing in the guest delays its
 * wake-up by more than microseconds) and prints each wake-up more than 5 ms late as
 * "<CLOCK_REALTIME ms at the wake-up> <ms late>". On this project's shared 2-core VM,
 * a guest that keeps both vCPUs busy is paused by the host for up to ~100 ms now and
 * then, and /proc/stat shows no steal for it. bench/bargein/stallProbe.ts runs it.
 */
#include <sched.h>
#include <stdio.h>
#include <time.h>

static double ms(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
  struct sched_param sp = {.sched_priority = 1};
  const int rt = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
  printf("rt %d\n", rt);
  fflush(stdout);
  for (;;) {
    const double t = ms(CLOCK_MONOTONIC);
    const struct timespec d = {0, 1000000};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
    const double late = ms(CLOCK_MONOTONIC) - t - 1;
    if (late > 5) {
      printf("%.3f %.3f\n", ms(CLOCK_REALTIME), late);
      fflush(stdout);
    }
  }
}
