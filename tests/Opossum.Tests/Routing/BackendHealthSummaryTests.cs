using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Grains.Availability;
using Opossum.Grains.Backends;

namespace Opossum.Tests.Routing;

/// <summary>A backend's health and its refusals from its servers' circuits and throttles, with a clock the test moves.</summary>
public sealed class BackendHealthSummaryTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly AvailabilityOptions _options = new() { FailureThreshold = 3, CoolDown = TimeSpan.FromSeconds(60), DegradedLatency = TimeSpan.FromSeconds(1) };

    private ServerAvailability Server(int index) =>
        new(new BackendServer(index, new Uri($"http://ollama-{index}:11434/"), 2), new CircuitBreaker(new CircuitState(), _options, _clock), _clock);

    private static ServerAvailability Online(ServerAvailability server, int latencyMs = 20)
    {
        server.Circuit.CheckSucceeded(TimeSpan.FromMilliseconds(latencyMs));
        return server;
    }

    private static ServerAvailability Offline(ServerAvailability server, string error = "HTTP 500: crashed")
    {
        for (var i = 0; i < 3; i++) server.Circuit.Failed(error, check: true);
        return server;
    }

    private static ServiceHealth Of(params ServerAvailability[] servers) => BackendHealthSummary.Of("ollama", servers, server => server + 1);

    [Fact]
    public void One_server_is_the_backend()
    {
        var server = Online(Server(0), latencyMs: 40);

        var health = Of(server);

        Assert.Equal(ServiceState.Online, health.State);
        Assert.Equal(_clock.GetUtcNow(), health.LastChecked);
        Assert.Equal(40, health.LatencyMs);
        Assert.Null(health.LastError);
        var only = Assert.Single(health.Servers!);
        Assert.Equal(("http://ollama-0:11434/", 1, 2), (only.Url, only.InFlight, only.Parallelism));

        Offline(server);
        var down = Of(server);
        Assert.Equal(ServiceState.Offline, down.State);
        Assert.Equal(3, down.ConsecutiveFailures);
        Assert.Equal("HTTP 500: crashed", down.LastError);
        var refused = BackendHealthSummary.Unavailable("ollama", [server]);
        Assert.Equal(ErrorCodes.BackendUnavailable, refused.Code);
        Assert.Equal("Backend 'ollama' is OFFLINE (circuit open after 3 consecutive failures; last error: HTTP 500: crashed).", refused.Message);
    }

    [Fact]
    public void A_throttled_server_says_for_how_long_and_why()
    {
        var server = Online(Server(0));
        server.Throttle(TimeSpan.FromSeconds(5), "HTTP 429: slow down");

        var health = Of(server);
        var refused = BackendHealthSummary.Unavailable("gemini", [server]);

        Assert.Equal(ServiceState.Online, health.State); // a 429 is not a failure
        Assert.Equal("rate-limited for 5 s more: HTTP 429: slow down", health.LastError);
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromSeconds(5), health.Servers![0].ThrottledUntil);
        Assert.Equal("Backend 'gemini' is rate-limiting (HTTP 429: slow down); no traffic for 5 s more.", refused.Message);
        Assert.Equal(TimeSpan.FromSeconds(5), refused.RetryAfter);
        Assert.Equal(CircuitDecision.Refuse, server.Decide());

        server.Throttle(TimeSpan.FromSeconds(1), "HTTP 429: again"); // an earlier end does not shorten it
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(Of(server).LastError);
        Assert.Equal(CircuitDecision.Send, server.Decide());
    }

    [Fact]
    public void Several_servers_are_online_when_all_are_and_degraded_while_some_are_not()
    {
        var first = Online(Server(0), latencyMs: 30);
        var second = Online(Server(1), latencyMs: 10);

        var all = Of(first, second);
        Assert.Equal(ServiceState.Online, all.State);
        Assert.Equal(10, all.LatencyMs);
        Assert.Null(all.LastError);
        Assert.Equal([1, 2], all.Servers!.Select(s => s.InFlight));

        Offline(second, "connection refused");
        var some = Of(first, second);
        Assert.Equal(ServiceState.Degraded, some.State);
        Assert.True(some.Available);
        Assert.Equal("http://ollama-1:11434/: connection refused", some.LastError);
        Assert.Equal(0, some.ConsecutiveFailures);
        Assert.Equal(30, some.LatencyMs);

        var slow = Of(Online(Server(0), latencyMs: 1500), Online(Server(1)));
        Assert.Equal(ServiceState.Degraded, slow.State); // a slow server is less capacity too
        Assert.True(slow.Available);
    }

    [Fact]
    public void Several_servers_are_offline_when_none_can_take_traffic_and_unknown_while_one_was_never_checked()
    {
        var first = Offline(Server(0), "HTTP 502");
        var second = Offline(Server(1), "timed out");
        second.Circuit.Failed("timed out", check: true);

        var none = Of(first, second);
        Assert.Equal(ServiceState.Offline, none.State);
        Assert.False(none.Available);
        Assert.Equal(3, none.ConsecutiveFailures); // the fewest of any server
        Assert.Equal("http://ollama-0:11434/: HTTP 502", none.LastError);
        Assert.Null(none.LatencyMs);

        var unknown = Of(Offline(Server(0)), Server(1));
        Assert.Equal(ServiceState.Unknown, unknown.State);
    }

    [Fact]
    public void Several_servers_refused_say_each_ones_reason()
    {
        var first = Offline(Server(0), "HTTP 502");
        var second = Online(Server(1));
        second.Throttle(TimeSpan.FromSeconds(7), "HTTP 429");

        var refused = BackendHealthSummary.Unavailable("ollama", [first, second]);

        Assert.Equal("Backend 'ollama' is OFFLINE: no server can take traffic (http://ollama-0:11434/: circuit open, last error: HTTP 502; http://ollama-1:11434/: rate-limited for 7 s more).", refused.Message);
    }

    [Fact]
    public void A_disabled_backend_is_offline_with_the_reason()
    {
        var gemini = BackendHealthSummary.Disabled("gemini");
        var ollama = BackendHealthSummary.Disabled("ollama");

        Assert.Equal(ServiceState.Offline, gemini.State);
        Assert.Equal("disabled: GEMINI_API_KEY is not set", gemini.LastError);
        Assert.Equal("disabled: no backend named 'ollama' is enabled on this server", ollama.LastError);
        Assert.Equal("Backend 'gemini' is disabled: GEMINI_API_KEY is not set.", BackendRegistry.Disabled("gemini").Message);
    }
}
