using System.Text.Json;

namespace Opossum.Bench.Scenarios;

/// <summary>
/// Chats that skip the cache, side by side with the backend alone, called the way the gateway calls it:
/// what the loopback server itself adds to its latency, so that what remains is the gateway's; the same chats
/// through the OpenAI door (<c>openai-miss</c>) take turns with them.
/// </summary>
public static class MissOverhead
{
    public static async Task RunAsync(Harness bench)
    {
        if (!(bench.Options.Runs("miss-overhead") || bench.Options.Runs("openai-miss")) || bench.Traced is not { } gateway) return;
        var direct = Load.Json(JsonSerializer.Serialize(new { model = "gemma3:1b", stream = false, messages = new[] { new { role = "user", content = "Tell me something new about opossums." } } }));
        List<Contender> contenders = [new Contender("backend alone", null, new Uri(bench.Backend.BaseUrl, "/api/chat"), direct)];
        if (bench.Options.Runs("miss-overhead"))
            contenders.Add(bench.Observed("miss-overhead", gateway, bench.MissPrompt));
        if (bench.Options.Runs("openai-miss"))
            contenders.Add(bench.Observed("openai miss-overhead", gateway, bench.OpenAIMissPrompt, "/v1/chat/completions") with { CacheControl = "no-cache" });
        await bench.SideBySideAsync(contenders, bench.Options.Runs("miss-overhead") && !bench.Options.Runs("openai-miss") ? [("miss-overhead", bench.Spans)] : []);
    }
}
