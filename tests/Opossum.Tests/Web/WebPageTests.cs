using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;
using Xunit.Abstractions;

namespace Opossum.Tests.Web;

/// <summary>The page at <c>/</c>, driven in a real headless browser (Debian's chromium through puppeteer-core), against a backend that streams slowly.</summary>
public sealed class WebPageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly NodeFolder Browser = new("opossum-browser-test", ["puppeteer-core@25.16.0"], "tests/Opossum.Tests/Web/page-test.mjs");
    private const string Chromium = "/usr/bin/chromium";

    private FakeOllama _ollama = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _ollama = await FakeOllama.StartAsync();
        _ollama.ChunkDelay = TimeSpan.FromMilliseconds(120);
        _gateway = await GatewayHost.StartAsync(_ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OPOSSUM_TRACE_URL"] = "http://localhost:16686/trace/{traceId}",
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _ollama.DisposeAsync();
    }

    [Fact]
    public async Task A_person_chats_on_the_page_and_sees_the_answer_written_the_services_and_the_traces()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (scripts/test.sh does)");
        var first = $"tell me about the opossum and its long tail {Guid.NewGuid():N}"[..52];
        var second = $"and what does it eat at night {Guid.NewGuid():N}"[..40];
        var screenshot = Path.Combine(Path.GetTempPath(), "opossum-page.png");
        var spec = JsonSerializer.Serialize(new { url = new Uri(_gateway.Http.BaseAddress!, "/").ToString(), chromium = Chromium, screenshot, messages = new[] { first, second } });

        var (code, stdout, stderr) = await Browser.NodeAsync(TimeSpan.FromMinutes(2), "page-test.mjs", spec);
        Assert.True(code == 0, $"the browser run failed ({code}):\n{stderr}\n{stdout}");
        var seen = JsonNode.Parse(stdout)!;
        output.WriteLine(seen.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        // The answer appeared piece by piece as the backend wrote it, and then whole with what produced it.
        var answers = seen["answers"]!.AsArray();
        Assert.Equal(2, answers.Count);
        var growth = answers[0]!["seen"]!.AsArray().Select(s => s!["text"]!.GetValue<string>()).Where(t => t.Length > 0).ToList();
        Assert.True(growth.Count >= 4, $"the answer appeared in {growth.Count} steps: {string.Join(" | ", growth)}");
        for (var i = 1; i < growth.Count; i++)
            Assert.StartsWith(growth[i - 1], growth[i]);
        var times = answers[0]!["seen"]!.AsArray().Select(s => s!["ms"]!.GetValue<double>()).ToList();
        Assert.True(times[^1] - times[1] >= 3 * 120, $"the pieces arrived within {times[^1] - times[1]} ms: not as they were written");
        Assert.Equal("echo: " + first, answers[0]!["text"]!.GetValue<string>());
        var meta = answers[0]!["meta"]!.GetValue<string>();
        Assert.Contains("ollama · gemma3:1b", meta);
        Assert.Contains("generated", meta);
        Assert.Matches("trace [0-9a-f]{32}", meta);
        Assert.False(answers[0]!["error"]!.GetValue<bool>());

        // The second message continued the conversation: the backend got the first exchange as context.
        Assert.Equal("echo: " + second, answers[1]!["text"]!.GetValue<string>());
        var call = _ollama.Calls.Single(c => c.LastUserMessage == second);
        Assert.Contains(call.Messages, m => m.Role == "user" && m.Content == first);
        Assert.Contains(call.Messages, m => m.Role == "assistant" && m.Content == "echo: " + first);

        // Status and traces, from the same page.
        var services = seen["services"]!.AsArray().Select(r => r!.AsArray().Select(c => c!.GetValue<string>()).ToList()).ToList();
        Assert.Contains(services, row => row[0] == "ollama" && row[1] is "ONLINE" or "DEGRADED");
        Assert.Contains("misses", seen["cache"]!.GetValue<string>());
        Assert.True(seen["traces"]!.GetValue<int>() >= 2);

        // Nothing came from anywhere else, nothing went wrong in the console, and it fits a phone.
        Assert.Empty(seen["foreignRequests"]!.AsArray());
        Assert.Empty(seen["consoleErrors"]!.AsArray());
        Assert.True(seen["shiftEnterKeepsNewline"]!.GetValue<bool>());
        Assert.True(seen["narrowOverflow"]!.GetValue<int>() <= 0, $"the page is {seen["narrowOverflow"]} px wider than a 360 px screen");
        Assert.True(File.Exists(screenshot));
    }

    [Fact]
    public async Task On_a_gateway_with_keys_the_page_asks_for_one_and_shows_errors_in_words()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (scripts/test.sh does)");
        const string Key = "page-5d1c0a9e7f";
        await using var keyed = await GatewayHost.StartAsync(_ollama.BaseUrl, new Dictionary<string, string?> { ["OPOSSUM_API_KEYS"] = $"page:{Key}" });
        var fine = $"hello from the page {Guid.NewGuid():N}"[..30];
        var failing = $"this one fails {Guid.NewGuid():N}"[..28];
        _ollama.Failures[failing] = (HttpStatusCode.InternalServerError, "the model crashed");
        var spec = JsonSerializer.Serialize(new { url = new Uri(keyed.Http.BaseAddress!, "/").ToString(), chromium = Chromium, key = Key, messages = new[] { fine, failing } });

        var (code, stdout, stderr) = await Browser.NodeAsync(TimeSpan.FromMinutes(2), "page-test.mjs", spec);
        Assert.True(code == 0, $"the browser run failed ({code}):\n{stderr}\n{stdout}");
        var seen = JsonNode.Parse(stdout)!;
        output.WriteLine(seen.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        Assert.True(seen["askedForKey"]!.GetValue<bool>());
        Assert.True(seen["keyKept"]!.GetValue<bool>()); // for the tab's session, not beyond
        var answers = seen["answers"]!.AsArray();
        Assert.Equal("echo: " + fine, answers[0]!["text"]!.GetValue<string>());
        Assert.True(answers[1]!["error"]!.GetValue<bool>());
        var error = answers[1]!["meta"]!.GetValue<string>();
        Assert.Contains("BACKEND_UNAVAILABLE: ", error);
        Assert.Contains("the model crashed", error);
        Assert.Matches("trace [0-9a-f]{32}", error);
        Assert.Equal(0, seen["traces"]!.GetValue<int>()); // a client key's page says traces are for operators
        Assert.Contains("for operators: enter an admin key", seen["tracesNote"]!.GetValue<string>());
        Assert.Empty(seen["consoleErrors"]!.AsArray());
    }

    [Fact]
    public async Task The_page_is_served_from_the_gateway_alone_and_the_schema_as_SDL()
    {
        using var page = await _gateway.GetUntracedAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        var csp = string.Join(';', page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("connect-src 'self'", csp);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("""content="http://localhost:16686/trace/{traceId}""", html);
        Assert.DoesNotContain("http://", html.Replace("http://localhost:16686/trace/{traceId}", ""));
        foreach (var asset in new[] { "/app.js", "/app.css" })
        {
            using var file = await _gateway.GetUntracedAsync(asset);
            Assert.Equal(HttpStatusCode.OK, file.StatusCode);
            Assert.DoesNotContain("https://", await file.Content.ReadAsStringAsync());
        }

        using var sdl = await _gateway.GetUntracedAsync("/graphql?sdl");
        Assert.Equal(HttpStatusCode.OK, sdl.StatusCode);
        Assert.Equal("text/plain", sdl.Content.Headers.ContentType!.MediaType);
        var schema = await sdl.Content.ReadAsStringAsync();
        Assert.Contains("type Query {", schema);
        Assert.Contains("chatStream(input: ChatInput!): ChatChunk!", schema);
    }
}
