namespace Opossum.Grains.Routing;

/// <summary>What a request needs of the model that answers it, beyond text: each is a catalog flag of <see cref="ModelDefinition"/>.</summary>
[Flags]
public enum ModelNeeds
{
    None = 0,
    /// <summary>A message carries an image: <see cref="ModelDefinition.SupportsImages"/>.</summary>
    Images = 1,
    /// <summary>Tools are offered, or the context holds tool calls or their results: <see cref="ModelDefinition.SupportsTools"/>.</summary>
    Tools = 2,
    /// <summary>The answer is to be JSON (a schema, or JSON mode): <see cref="ModelDefinition.SupportsSchemas"/>.</summary>
    Schemas = 4,
}

/// <summary>How a request's needs are read, and which models meet them.</summary>
public static class ModelNeedsExtensions
{
    /// <summary>What answering <paramref name="messages"/> with <paramref name="options"/> needs.</summary>
    public static ModelNeeds Of(IReadOnlyList<ChatMessage> messages, GenerationOptions? options)
    {
        var needs = ModelNeeds.None;
        if (options?.HasTools == true) needs |= ModelNeeds.Tools;
        if (options?.Format is not null) needs |= ModelNeeds.Schemas;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            if (message.Image is not null) needs |= ModelNeeds.Images;
            if (message.ToolCalls is { Count: > 0 } || message.Role == "tool") needs |= ModelNeeds.Tools;
        }
        return needs;
    }

    /// <summary>The model has every capability <paramref name="needs"/> asks for.</summary>
    public static bool Meets(this ModelDefinition model, ModelNeeds needs) =>
        (!needs.HasFlag(ModelNeeds.Images) || model.SupportsImages)
        && (!needs.HasFlag(ModelNeeds.Tools) || model.SupportsTools)
        && (!needs.HasFlag(ModelNeeds.Schemas) || model.SupportsSchemas);

    /// <summary>The first capability in <paramref name="needs"/> that <paramref name="model"/> lacks, in words ("images", "tools", "schemas").</summary>
    public static string Missing(this ModelDefinition model, ModelNeeds needs) =>
        needs.HasFlag(ModelNeeds.Images) && !model.SupportsImages ? Words(ModelNeeds.Images)
        : needs.HasFlag(ModelNeeds.Tools) && !model.SupportsTools ? Words(ModelNeeds.Tools)
        : Words(ModelNeeds.Schemas);

    /// <summary>The capabilities in words: "images", "tools and schemas".</summary>
    public static string Words(this ModelNeeds needs)
    {
        var words = new List<string>(3);
        if (needs.HasFlag(ModelNeeds.Images)) words.Add("images");
        if (needs.HasFlag(ModelNeeds.Tools)) words.Add("tools");
        if (needs.HasFlag(ModelNeeds.Schemas)) words.Add("schemas");
        return string.Join(" and ", words);
    }
}
