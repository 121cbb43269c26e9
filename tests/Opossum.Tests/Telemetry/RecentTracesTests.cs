using System.Net;
using System.Text.Json.Nodes;
using Opossum.ServiceDefaults.Telemetry;
using Opossum.Tests.Gateway;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

[Collection(GatewayCollection.Name)]
public sealed class RecentTracesTests(GatewayFixture fixture)
{
    private async Task<JsonArray> RecentAsync(int limit)
    {
        using var response = await fixture.Gateway.GetUntracedAsync($"/traces/recent?limit={limit}");
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
    }

    private async Task<JsonNode> FindAsync(string traceId)
    {
        for (var i = 0; i < 100; i++)
        {
            var found = (await RecentAsync(100)).FirstOrDefault(t => t!["traceId"]!.GetValue<string>() == traceId);
            if (found is not null && found["rootName"]!.GetValue<string>() == "POST /graphql") return found;
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"trace {traceId} is not in /traces/recent");
    }

    [Fact]
    public async Task Every_chat_and_every_error_can_be_found_by_its_trace_id()
    {
        var ok = await fixture.Gateway.ChatAsync(new { message = $"find my trace {Guid.NewGuid():N}" });
        var bad = await fixture.Gateway.ChatAsync(new { message = "" });

        var okTrace = await FindAsync(ok.Data!["chat"]!["traceId"]!.GetValue<string>());
        var badTrace = await FindAsync(bad.Errors[0]!["extensions"]!["traceId"]!.GetValue<string>());

        Assert.Equal("OK", okTrace["status"]!.GetValue<string>());
        Assert.True(okTrace["spanCount"]!.GetValue<int>() >= 10, okTrace.ToJsonString());
        Assert.Contains("ollama", okTrace["services"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Contains("opossum-search", okTrace["services"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.True(okTrace["durationMs"]!.GetValue<double>() > 0);
        Assert.Equal("ERROR", badTrace["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Recent_traces_are_newest_first_and_limited()
    {
        for (var i = 0; i < 3; i++)
            await fixture.Gateway.PostAsync("{ models { name } }");

        var two = await RecentAsync(2);
        var graphql = await fixture.Gateway.PostAsync("{ recentTraces(limit: 3) { traceId rootName startTime durationMs spanCount status services } }");

        Assert.Equal(2, two.Count);
        Assert.True(two[0]!["startTime"]!.GetValue<DateTime>() >= two[1]!["startTime"]!.GetValue<DateTime>());
        Assert.Equal(3, graphql.Data!["recentTraces"]!.AsArray().Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public async Task A_limit_outside_1_to_100_is_refused(int limit)
    {
        using var response = await fixture.Gateway.GetUntracedAsync($"/traces/recent?limit={limit}");
        var graphql = await fixture.Gateway.PostAsync($"{{ recentTraces(limit: {limit}) {{ traceId }} }}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("BAD_USER_INPUT", graphql.ErrorCode);
        RepositoryDocs.AssertStates("docs/contracts.md", $"`limit` 1–{TraceQuery.MaxLimit}, default {TraceQuery.DefaultLimit}");
    }
}
