using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.OllamaDoor;

/// <summary>
/// One run of <c>ollama-client.mjs</c>, the official <c>ollama</c> npm client playing every scenario against the gateway, shared by
/// the test classes that assert on them: the prompts (unique to this run), what the loopback Ollama is told to answer, the results by scenario.
/// </summary>
internal static class OllamaNpmRun
{
    private static readonly NodeFolder Node = new("opossum-ollama-client", ["ollama@0.6.4"], "tests/Opossum.Tests/OllamaDoor/ollama-client.mjs");

    private static readonly string Run = Guid.NewGuid().ToString("N")[..8];
    public static readonly string Chat = $"npm chat {Run}", Stream = $"npm stream of several words {Run}", Image = $"npm image {Run}",
        Parameters = $"npm parameters {Run}", Cache = $"npm cache {Run}", Concurrent = $"npm concurrent {Run}", Cut = $"npm cut {Run}",
        Limited = $"npm limited {Run}", Generate = $"npm generate {Run}";
    public static readonly string Tool = $"npm tool {Run}", ToolStream = $"npm tool stream {Run}", ToolCached = $"npm tool cached {Run}",
        ToolResult = $"11 degrees {Run}", Schema = $"npm schema {Run}", OffSchema = $"npm off-schema {Run}", JsonMode = $"npm json mode {Run}",
        GenerateSchema = $"npm generate schema {Run}", Refused = $"npm refused {Run}";

    /// <summary>What the loopback Ollama answers as <c>get_weather</c>'s arguments, and as JSON for a schema.</summary>
    public const string Arguments = """{"city":"Tokyo"}""", Reading = """{"city":"Tokyo","degrees":11}""", OffReading = """{"city":"Tokyo","degrees":"eleven"}""";

    private static Task<Dictionary<string, JsonNode>>? _results;

    public static Task<Dictionary<string, JsonNode>> ResultsAsync(OllamaDoorGateway fixture) =>
        LazyInitializer.EnsureInitialized(ref _results, () => RunAsync(fixture));

    private static async Task<Dictionary<string, JsonNode>> RunAsync(OllamaDoorGateway fixture)
    {
        fixture.Ollama.Delays[Concurrent] = TimeSpan.FromSeconds(1); // long enough for all 20 to be in flight together
        fixture.Ollama.CutAfterChunks[Cut] = 2;
        fixture.Ollama.ToolArguments["get_weather"] = Arguments;
        fixture.Ollama.JsonAnswers[Schema] = Reading;
        fixture.Ollama.JsonAnswers[GenerateSchema] = Reading;
        fixture.Ollama.JsonAnswers[OffSchema] = OffReading;
        var spec = JsonSerializer.Serialize(new
        {
            host = fixture.Gateway.Http.BaseAddress!.ToString(), key = OllamaDoorGateway.NpmKey,
            limitedHost = fixture.Limited.Http.BaseAddress!.ToString(), limitedKey = OllamaDoorGateway.LimitedNpmKey,
            model = OllamaDoorGateway.Model, imageModel = OllamaDoorGateway.ImageModel, toolModel = OllamaDoorGateway.ToolModel,
            png = Convert.ToBase64String(Images.Png),
            chat = Chat, stream = Stream, image = Image, parameters = Parameters, cache = Cache, concurrent = Concurrent, cut = Cut,
            limited = Limited, generate = Generate,
            tool = Tool, toolStream = ToolStream, toolCached = ToolCached, toolResult = ToolResult, schema = Schema, offSchema = OffSchema,
            jsonMode = JsonMode, generateSchema = GenerateSchema, refused = Refused,
        });
        var (code, output, errors) = await Node.NodeAsync(TimeSpan.FromSeconds(120), "ollama-client.mjs", spec);
        Assert.True(code == 0, $"node exited with {code}:\n{errors}\n{output}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!)
            .ToDictionary(r => r["scenario"]!.GetValue<string>());
    }
}
