// A libFuzzer driver for .NET fuzz targets instrumented by SharpFuzz (our own minimal equivalent of
// libfuzzer-dotnet). Build: clang -O2 -fsanitize=fuzzer netstack-libfuzzer.c -o netstack-libfuzzer
//
// The protocol, as SharpFuzz's Fuzzer.LibFuzzer.Run implements its side (SharpFuzz 2.x, POSIX):
//   - environment of the .NET process:
//       __LIBFUZZER_SHM_ID           id of a System V shared-memory segment (shmget), attached with shmat
//       __LIBFUZZER_CONTROL_PIPE_ID  fd the .NET process reads from (AnonymousPipeClientStream, In)
//       __LIBFUZZER_STATUS_PIPE_ID   fd the .NET process writes to (AnonymousPipeClientStream, Out)
//   - the segment: MAP_SIZE (65536) bytes of AFL-style edge counters the instrumented code increments
//     (SharedMem[cur ^ prev]++), then the input bytes;
//   - the .NET process writes a 32-bit 0 on the status pipe once attached; then, per input, the driver
//     writes the input length (32-bit, host order) on the control pipe, and the .NET process runs the
//     input and answers a 32-bit status: 0 fine, anything else an exception escaped (it then exits).
// The edge counters are handed to libFuzzer as extra counters, so its coverage feedback is the .NET code's.
//
// Usage: netstack-libfuzzer [libFuzzer flags] --target_path=PATH [--target_arg=ARG]... [corpus dirs]
// (libFuzzer ignores flags that start with "--"; this driver reads them.)
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAP_SIZE (1 << 16)
#define MAX_INPUT (1 << 20)
#define MAX_TARGET_ARGS 16

__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t extra_counters[MAP_SIZE];
static int edges_only;

static uint8_t *shared;
static int shm_id = -1;
static int control_fd = -1;
static int status_fd = -1;
static pid_t child = -1;

static void fail(const char *what) {
  fprintf(stderr, "netstack-libfuzzer: %s: %s\n", what, errno ? strerror(errno) : "unexpected end of stream");
  exit(1);
}

static int write_all(int fd, const void *buffer, size_t length) {
  const uint8_t *p = buffer;
  while (length > 0) {
    ssize_t n = write(fd, p, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    length -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, void *buffer, size_t length) {
  uint8_t *p = buffer;
  while (length > 0) {
    ssize_t n = read(fd, p, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    length -= (size_t)n;
  }
  return 0;
}

static void stop_child(void) {
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    child = -1;
  }
  if (shm_id >= 0) {
    shmctl(shm_id, IPC_RMID, NULL);
    shm_id = -1;
  }
}

static void start_child(const char *path, char **args) {
  shm_id = shmget(IPC_PRIVATE, MAP_SIZE + MAX_INPUT, IPC_CREAT | IPC_EXCL | 0600);
  if (shm_id < 0) fail("shmget");
  shared = shmat(shm_id, NULL, 0);
  if (shared == (void *)-1) fail("shmat");
  atexit(stop_child);

  int control[2], status[2];
  if (pipe(control) != 0 || pipe(status) != 0) fail("pipe");
  pid_t parent = getpid();
  child = fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); // libFuzzer leaves with _Exit on crash or timeout: take the target along
    if (getppid() != parent) _exit(1);
    close(control[1]);
    close(status[0]);
    char value[32];
    snprintf(value, sizeof value, "%d", shm_id);
    setenv("__LIBFUZZER_SHM_ID", value, 1);
    snprintf(value, sizeof value, "%d", control[0]);
    setenv("__LIBFUZZER_CONTROL_PIPE_ID", value, 1);
    snprintf(value, sizeof value, "%d", status[1]);
    setenv("__LIBFUZZER_STATUS_PIPE_ID", value, 1);
    execv(path, args);
    fprintf(stderr, "netstack-libfuzzer: cannot run %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(control[0]);
  close(status[1]);
  control_fd = control[1];
  status_fd = status[0];

  int32_t hello = -1;
  errno = 0;
  if (read_all(status_fd, &hello, sizeof hello) != 0 || hello != 0) fail("no handshake from the .NET target");
  shmctl(shm_id, IPC_RMID, NULL); // attached by both sides: the segment goes away when both detach
  shm_id = -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *edges = getenv("NETSTACK_FUZZ_EDGES_ONLY");
  edges_only = edges != NULL && edges[0] != '\0' && edges[0] != '0';
  const char *path = NULL;
  static char *args[MAX_TARGET_ARGS + 2];
  int count = 1;
  for (int i = 1; i < *argc; i++) {
    const char *arg = (*argv)[i];
    if (strncmp(arg, "--target_path=", 14) == 0) {
      path = arg + 14;
    } else if (strncmp(arg, "--target_arg=", 13) == 0 && count <= MAX_TARGET_ARGS) {
      args[count++] = (char *)(arg + 13);
    }
  }
  if (path == NULL) {
    fprintf(stderr, "usage: %s [libFuzzer flags] --target_path=PATH [--target_arg=ARG]... [corpus]\n", (*argv)[0]);
    exit(1);
  }
  args[0] = (char *)path;
  args[count] = NULL;
  signal(SIGPIPE, SIG_IGN);
  start_child(path, args);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT) size = MAX_INPUT;
  memset(shared, 0, MAP_SIZE);
  memcpy(shared + MAP_SIZE, data, size);
  int32_t length = (int32_t)size;
  int32_t status = -1;
  errno = 0;
  if (write_all(control_fd, &length, sizeof length) != 0 || read_all(status_fd, &status, sizeof status) != 0) {
    fprintf(stderr, "netstack-libfuzzer: the .NET target died\n");
    abort(); // libFuzzer saves the input as a crash
  }
  if (edges_only) {
    // NETSTACK_FUZZ_EDGES_ONLY=1 (run.sh merge): report each edge as hit or not, without hit-count buckets, so a
    // merge keeps the inputs that reach new code rather than every new loop count (a much smaller seed corpus).
    for (size_t i = 0; i < MAP_SIZE; i++) extra_counters[i] = shared[i] != 0;
  } else {
    memcpy(extra_counters, shared, MAP_SIZE);
  }
  if (status != 0) {
    fprintf(stderr, "netstack-libfuzzer: the .NET target reported an exception (status %d)\n", status);
    abort();
  }
  return 0;
}
