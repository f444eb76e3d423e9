using Aperture.Operator.Controller;
using Microsoft.Extensions.Time.Testing;

namespace Aperture.Operator.Tests;

public sealed class WorkQueueTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static WorkQueue<string> Queue(FakeTimeProvider time) => new(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    [Fact]
    public async Task A_key_added_twice_is_processed_once()
    {
        using var queue = Queue(new FakeTimeProvider());
        queue.Add("obs/a");
        queue.Add("obs/b");
        queue.Add("obs/a");

        Assert.Equal(2, queue.Count);
        Assert.Equal("obs/a", await queue.TakeAsync(Cancel));
        Assert.Equal("obs/b", await queue.TakeAsync(Cancel));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task A_key_added_while_it_is_processed_comes_back_only_after_done()
    {
        using var queue = Queue(new FakeTimeProvider());
        queue.Add("obs/a");
        var taken = await queue.TakeAsync(Cancel);

        queue.Add("obs/a");
        Assert.Equal(0, queue.Count);
        var second = queue.TakeAsync(Cancel);
        await Task.Delay(50, Cancel);
        Assert.False(second.IsCompleted);

        queue.Done(taken!);
        Assert.Equal("obs/a", await second.WaitAsync(TimeSpan.FromSeconds(5), Cancel));
    }

    [Fact]
    public async Task Failures_back_off_per_key_doubling_to_a_cap_and_forget_resets()
    {
        var time = new FakeTimeProvider();
        using var queue = Queue(time);

        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.AddRateLimited("obs/a"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), queue.AddRateLimited("obs/a"));
        Assert.Equal(TimeSpan.FromMilliseconds(400), queue.AddRateLimited("obs/a"));
        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.AddRateLimited("obs/b"));
        for (var i = 0; i < 10; i++)
        {
            queue.AddRateLimited("obs/a");
        }

        Assert.Equal(TimeSpan.FromSeconds(5), queue.AddRateLimited("obs/a"));
        queue.Forget("obs/a");
        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.AddRateLimited("obs/a"));
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, queue.Count);
        Assert.Equal(["obs/a", "obs/b"], new[] { await queue.TakeAsync(Cancel), await queue.TakeAsync(Cancel) }.Order());
    }

    [Fact]
    public async Task A_delayed_key_arrives_when_its_time_comes()
    {
        var time = new FakeTimeProvider();
        using var queue = Queue(time);

        queue.AddAfter("obs/poll", TimeSpan.FromMinutes(1));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal("obs/poll", await queue.TakeAsync(Cancel));
    }

    [Fact]
    public async Task Shutting_down_releases_waiting_workers()
    {
        using var queue = Queue(new FakeTimeProvider());
        var waiting = queue.TakeAsync(Cancel);

        queue.ShutDown();

        Assert.Null(await waiting.WaitAsync(TimeSpan.FromSeconds(5), Cancel));
    }
}
