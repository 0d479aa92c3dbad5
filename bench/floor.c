/*
 * The floor: the kernel operations of the snapshotter's steps, straight
 * through libdevmapper, one task per ioctl and nothing else (no metastore,
 * no checks, no transaction ids). Built by bench/run.mjs with
 *   cc -O2 -o bench/build/floor bench/floor.c $(pkg-config --cflags --libs devmapper)
 *
 * usage:
 *   floor ops  POOL POOLDEV ORIGIN_ID FIRST_ID N SECTORS UDEV NAME_PREFIX
 *       per id: prepare (create_snap + create), usage (status), then
 *       even ids: commit (status, suspend, resume, remove), odd ids:
 *       remove (remove --retry + delete); committed ids are deleted untimed.
 *       Prints one JSON object of latencies in milliseconds.
 *   floor fill POOL FIRST_ID N     create_thin FIRST_ID .. FIRST_ID+N-1
 *   floor drop POOL FIRST_ID N     delete the same ids
 */
#include <libdevmapper.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 0: no udev; 1: udev runs its rules and every node change waits for it;
 * 2: udev runs, but its rules are off for these devices and nothing waits
 *    (what LVM does with udev_rules=0, and the library's default for thin
 *    devices): libdevmapper makes the /dev/mapper nodes itself. */
static int udev;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *name) {
  fprintf(stderr, "floor: %s %s failed\n", what, name);
  exit(1);
}

static void message(const char *pool, const char *msg) {
  struct dm_task *t = dm_task_create(DM_DEVICE_TARGET_MSG);
  if (!t || !dm_task_set_name(t, pool) || !dm_task_set_sector(t, 0) || !dm_task_set_message(t, msg) || !dm_task_run(t)) die("message", msg);
  dm_task_destroy(t);
}

/* A task that changes device nodes: with udev, wait on its cookie. */
static void run_with_cookie(struct dm_task *t, const char *what, const char *name) {
  uint32_t cookie = 0;
  uint16_t flags = udev == 2 ? DM_UDEV_DISABLE_DM_RULES_FLAG | DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG |
                                   DM_UDEV_DISABLE_DISK_RULES_FLAG | DM_UDEV_DISABLE_OTHER_RULES_FLAG
                             : 0;
  if (!dm_task_set_cookie(t, &cookie, flags)) die("cookie", name);
  if (!dm_task_run(t)) {
    dm_udev_wait(cookie);
    die(what, name);
  }
  dm_udev_wait(cookie);
  dm_task_destroy(t);
}

static void create(const char *name, const char *pooldev, int id, uint64_t sectors) {
  char params[128];
  snprintf(params, sizeof params, "%s %d", pooldev, id);
  struct dm_task *t = dm_task_create(DM_DEVICE_CREATE);
  if (!t || !dm_task_set_name(t, name) || !dm_task_add_target(t, 0, sectors, "thin", params)) die("create", name);
  run_with_cookie(t, "create", name);
}

static void status(const char *name) {
  struct dm_task *t = dm_task_create(DM_DEVICE_STATUS);
  if (!t || !dm_task_set_name(t, name) || !dm_task_run(t)) die("status", name);
  uint64_t start, length;
  char *type, *params;
  dm_get_next_target(t, NULL, &start, &length, &type, &params);
  dm_task_destroy(t);
}

static void suspend(const char *name) {
  struct dm_task *t = dm_task_create(DM_DEVICE_SUSPEND);
  if (!t || !dm_task_set_name(t, name) || !dm_task_run(t)) die("suspend", name);
  dm_task_destroy(t);
}

static void resume(const char *name) {
  struct dm_task *t = dm_task_create(DM_DEVICE_RESUME);
  if (!t || !dm_task_set_name(t, name)) die("resume", name);
  run_with_cookie(t, "resume", name);
}

static void removedev(const char *name) {
  struct dm_task *t = dm_task_create(DM_DEVICE_REMOVE);
  if (!t || !dm_task_set_name(t, name) || !dm_task_retry_remove(t)) die("remove", name);
  run_with_cookie(t, "remove", name);
}

static void print_series(const char *key, const double *v, int n, int last) {
  printf("\"%s\":[", key);
  for (int i = 0; i < n; i++) printf("%s%.4f", i ? "," : "", v[i]);
  printf("]%s", last ? "" : ",");
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  char msg[128];
  if (!strcmp(argv[1], "fill") || !strcmp(argv[1], "drop")) {
    if (argc != 5) return 2;
    int first = atoi(argv[3]), n = atoi(argv[4]);
    for (int i = 0; i < n; i++) {
      snprintf(msg, sizeof msg, argv[1][0] == 'f' ? "create_thin %d" : "delete %d", first + i);
      message(argv[2], msg);
    }
    return 0;
  }
  if (strcmp(argv[1], "ops") || argc != 10) return 2;
  const char *pool = argv[2], *pooldev = argv[3], *prefix = argv[9];
  int origin = atoi(argv[4]), first = atoi(argv[5]), n = atoi(argv[6]);
  uint64_t sectors = strtoull(argv[7], NULL, 10);
  udev = atoi(argv[8]);
  dm_udev_set_sync_support(udev == 1);
  {
    /* Warm up (open the control node, check the driver version) outside the timings. */
    char version[64];
    dm_driver_version(version, sizeof version);
  }
  double *prep = calloc(n, sizeof *prep), *use = calloc(n, sizeof *use);
  double *com = calloc(n, sizeof *com), *rem = calloc(n, sizeof *rem);
  int ncom = 0, nrem = 0;
  char name[256];
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "%s%d", prefix, first + i);
    double t0 = now_ms();
    snprintf(msg, sizeof msg, "create_snap %d %d", first + i, origin);
    message(pool, msg);
    create(name, pooldev, first + i, sectors);
    prep[i] = now_ms() - t0;
  }
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "%s%d", prefix, first + i);
    double t0 = now_ms();
    status(name);
    use[i] = now_ms() - t0;
  }
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "%s%d", prefix, first + i);
    double t0 = now_ms();
    if (i % 2 == 0) {
      status(name);
      suspend(name);
      resume(name);
      removedev(name);
      com[ncom++] = now_ms() - t0;
    } else {
      removedev(name);
      snprintf(msg, sizeof msg, "delete %d", first + i);
      message(pool, msg);
      rem[nrem++] = now_ms() - t0;
    }
  }
  for (int i = 0; i < n; i += 2) {
    snprintf(msg, sizeof msg, "delete %d", first + i);
    message(pool, msg);
  }
  printf("{");
  print_series("prepare", prep, n, 0);
  print_series("usage", use, n, 0);
  print_series("commit", com, ncom, 0);
  print_series("remove", rem, nrem, 1);
  printf("}\n");
  dm_lib_release();
  return 0;
}
