using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Protection;

/// <summary>
/// A standalone gateway with a budget of 1 000 tokens per key and day, 100 tokens reserved per answer, no chat limit,
/// a one-minute grain-call timeout, an Ollama that streams a word every 150 ms, on a clock that stands still unless a test moves it.
/// </summary>
public sealed class BudgetGateway : IAsyncLifetime
{
    public const string Leaver = "leaver-6d0c2f8a1e", Sipper = "sipper-0a7e3b9c52", Crowd = "crowd-f3a81c07d9", Stuck = "stuck-2b5e9d4a70",
        Twins = "twins-81d4c6f0b3";
    public const long TokensPerDay = 1000;
    public const int AnswerTokens = 100;
    public static readonly TimeSpan GrainCallTimeout = TimeSpan.FromMinutes(1);

    public FakeOllama Ollama { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 2, 15, 0, 0, TimeSpan.Zero));
    public Uri GraphQL => new(Gateway.Http.BaseAddress!, "/graphql");

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Ollama.ChunkDelay = TimeSpan.FromMilliseconds(150);
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OPOSSUM_API_KEYS"] = $"leaver:{Leaver},sipper:{Sipper},crowd:{Crowd},stuck:{Stuck},twins:{Twins}",
            ["OLLAMA_PARALLELISM"] = "32",
            ["Opossum:Limits:TokensPerDay"] = TokensPerDay.ToString(),
            ["Opossum:Limits:AnswerTokens"] = AnswerTokens.ToString(),
            ["Opossum:GrainCallTimeout"] = GrainCallTimeout.ToString(),
        }, services => services.AddKeyedSingleton<TimeProvider>(ProviderNames.Clock, Clock));
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
    }

    public async Task<(HttpResponseMessage Response, JsonNode Body)> PostAsync(string query, object? variables, string key, CancellationToken cancellationToken = default)
    {
        using var request = GatewayHost.GraphQLPost(query, variables, key);
        var response = await Gateway.SendUntracedAsync(request, cancellationToken);
        return (response, JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!);
    }

    public Task<(HttpResponseMessage Response, JsonNode Body)> ChatAsync(string message, string key, CancellationToken cancellationToken = default) =>
        PostAsync("mutation($m: String!) { chat(input: {message: $m}) { message cached tokensUsed } }", new { m = message }, key, cancellationToken);

    public async Task<(long Today, long Reserved)> UsageAsync(string key)
    {
        var usage = (await PostAsync("{ usage { tokensToday tokensReserved } }", null, key)).Body["data"]!["usage"]!;
        return (usage["tokensToday"]!.GetValue<long>(), usage["tokensReserved"]!.GetValue<long>());
    }
}
