using System.Text.Json;

namespace Opossum.Bench.Scenarios;

/// <summary>
/// Chats that skip the cache, side by side with the backend alone, called the way the gateway calls it:
/// what the loopback server itself adds to its latency, so that what remains is the gateway's.
/// </summary>
public static class MissOverhead
{
    public static async Task RunAsync(Harness bench)
    {
        if (!bench.Options.Runs("miss-overhead") || bench.Traced is not { } gateway) return;
        var direct = Load.Json(JsonSerializer.Serialize(new { model = "gemma3:1b", stream = false, messages = new[] { new { role = "user", content = "Tell me something new about opossums." } } }));
        await bench.SideBySideAsync([
            new Contender("backend alone", null, new Uri(bench.Backend.BaseUrl, "/api/chat"), direct),
            bench.Observed("miss-overhead", gateway, bench.MissPrompt),
        ], ("miss-overhead", bench.Spans));
    }
}
