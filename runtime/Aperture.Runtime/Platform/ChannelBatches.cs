using System.Threading.Channels;

namespace Aperture.Runtime.Platform;

/// <summary>When a batch for storage is complete: enough rows, the oldest waited long enough, or the stream paused.</summary>
/// <param name="MaxRows">A batch is complete at this many rows.</param>
/// <param name="Interval">…or this long after its first item was taken…</param>
/// <param name="Idle">…or when no item came for this long (<see cref="TimeSpan.MaxValue"/>: no such rule).</param>
public readonly record struct BatchLimits(int MaxRows, TimeSpan Interval, TimeSpan Idle);

/// <summary>The collecting half of each feature's batched flush loop: a channel's items into batches.</summary>
public static class ChannelBatches
{
    /// <summary>
    /// Adds items from <paramref name="reader"/> to the empty <paramref name="batch"/> until the limits
    /// say it is complete, the channel is completed, or <paramref name="flushNow"/> gives a task that has
    /// completed (a reader asking for what it wrote to be stored now).
    /// </summary>
    public static async Task CollectAsync<T>(
        ChannelReader<T> reader,
        List<T> batch,
        BatchLimits limits,
        Func<T, int> rowsOf,
        TimeProvider time,
        CancellationToken stoppingToken,
        Func<Task>? flushNow = null)
    {
        var rows = 0;
        var deadline = time.GetUtcNow() + limits.Interval;
        while (true)
        {
            while (rows < limits.MaxRows && reader.TryRead(out var item))
            {
                batch.Add(item);
                rows += rowsOf(item);
            }

            var flush = flushNow?.Invoke();
            var remaining = deadline - time.GetUtcNow();
            if (rows >= limits.MaxRows || remaining <= TimeSpan.Zero || flush?.IsCompleted == true)
            {
                return;
            }

            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var more = reader.WaitToReadAsync(waiting.Token).AsTask();
            var timeout = Task.Delay(remaining < limits.Idle ? remaining : limits.Idle, time, waiting.Token);
            var done = flush is null ? await Task.WhenAny(more, timeout) : await Task.WhenAny(more, timeout, flush);
            await waiting.CancelAsync();
            stoppingToken.ThrowIfCancellationRequested();
            if (done != more || !more.IsCompletedSuccessfully || !await more)
            {
                // The interval or the idle time passed, a flush was asked for, or the channel was completed.
                return;
            }
        }
    }

    /// <summary>Takes what is left in the channel, for the last write at shutdown.</summary>
    public static List<T> Drain<T>(ChannelReader<T> reader)
    {
        var left = new List<T>();
        while (reader.TryRead(out var item))
        {
            left.Add(item);
        }

        return left;
    }
}
