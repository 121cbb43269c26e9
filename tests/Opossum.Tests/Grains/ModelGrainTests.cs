using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Grains;

[Collection(ClusterCollection.Name)]
public sealed class ModelGrainTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_model_runs_no_more_generations_at_once_than_its_bound()
    {
        var tag = Guid.NewGuid().ToString("N");
        fixture.Ollama.Delays[tag] = TimeSpan.FromMilliseconds(300);
        var model = fixture.Grains.GetGrain<IModelGrain>(ClusterFixture.BoundedModel);

        var generations = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            model.Generate(new GenerationRequest(ClusterFixture.BoundedModel, [new ChatMessage("user", $"{tag} #{i}")]))));

        Assert.Equal(8, generations.Length);
        Assert.Equal(ClusterFixture.BoundedModelConcurrency, fixture.Ollama.MaxInFlight(ClusterFixture.BoundedModel));
    }

    [Fact]
    public async Task A_slow_generation_does_not_block_a_fast_one()
    {
        var slow = $"slow {Guid.NewGuid()}";
        fixture.Ollama.Delays[slow] = TimeSpan.FromSeconds(2);
        var model = fixture.Grains.GetGrain<IModelGrain>(ClusterFixture.Model);

        var slowTask = model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", slow)]));
        await Task.Delay(100);
        var fast = await model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", $"fast {Guid.NewGuid()}")]));

        Assert.False(slowTask.IsCompleted, "the fast generation had to wait for the slow one");
        Assert.StartsWith("echo: fast", fast.Content);
        await slowTask;
    }

    [Fact]
    public async Task Latency_errors_and_token_counts_are_recorded()
    {
        var model = fixture.Grains.GetGrain<IModelGrain>(ClusterFixture.Model);
        var failing = $"failing {Guid.NewGuid()}";
        fixture.Ollama.Failures[failing] = (System.Net.HttpStatusCode.NotFound, $"model '{ClusterFixture.Model}' not found");
        var before = await model.GetStats();

        var ok = await model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", "count my tokens")]));
        var error = await Assert.ThrowsAsync<OpossumException>(() =>
            model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", failing)])));

        var after = await model.GetStats();
        Assert.Equal(before.Requests + 2, after.Requests);
        Assert.Equal(before.Errors + 1, after.Errors);
        Assert.NotNull(after.AverageLatencyMs);
        Assert.Equal("count my tokens".Length, ok.InputTokens);
        Assert.Equal(ok.Content.Length, ok.OutputTokens);
        Assert.Equal(ErrorCodes.BackendUnavailable, error.Code);
        Assert.Contains("HTTP 404", error.Message);
        Assert.Contains("not found", error.Message);
    }
}
