using System.Diagnostics;
using System.Globalization;

namespace Aperture.Agent.Profiling.Tests;

/// <summary>
/// A small C program compiled at test time: two threads contend a pthread mutex (each holds it across a 2 ms
/// nanosleep), while the main thread reads /dev/zero and sleeps 1 ms in a loop. It prints "started" once the
/// threads run.
/// </summary>
internal sealed class ContendedProgram : IDisposable
{
    public const string Source = """
        #include <pthread.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <time.h>
        #include <fcntl.h>
        #include <unistd.h>
        static pthread_mutex_t aperture_lock = PTHREAD_MUTEX_INITIALIZER;
        static volatile int running = 1;
        __attribute__((noinline)) static void aperture_hold(void) {
            pthread_mutex_lock(&aperture_lock);
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
            pthread_mutex_unlock(&aperture_lock);
        }
        static void *aperture_worker(void *arg) { (void)arg; while (running) aperture_hold(); return NULL; }
        int main(int argc, char **argv) {
            pthread_t a, b;
            pthread_create(&a, NULL, aperture_worker, NULL);
            pthread_create(&b, NULL, aperture_worker, NULL);
            printf("started\n");
            fflush(stdout);
            int fd = open("/dev/zero", O_RDONLY);
            char buffer[64];
            time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 30);
            while (time(NULL) < end) { if (read(fd, buffer, sizeof buffer) < 0) return 1; struct timespec ts = {0, 1000000}; nanosleep(&ts, NULL); }
            running = 0;
            return 0;
        }
        """;

    private ContendedProgram(Process process) => Process = process;

    public Process Process { get; }

    public int Pid => Process.Id;

    public static string Compile(string directory) =>
        HotProgram.CompileC(directory, "contended", Source, ["-O0", "-fno-omit-frame-pointer", "-pthread"]);

    public static ContendedProgram Run(string binary, int seconds = 30)
    {
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true };
        start.ArgumentList.Add(seconds.ToString(CultureInfo.InvariantCulture));
        var process = Process.Start(start)!;
        if (process.StandardOutput.ReadLine() != "started")
        {
            throw new InvalidOperationException("the contended program did not start");
        }

        return new ContendedProgram(process);
    }

    public void Dispose()
    {
        try
        {
            Process.Kill();
            Process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        Process.Dispose();
    }
}
