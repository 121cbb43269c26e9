using GraphQL.Types;
using Opossum.Gateway.Chat;

namespace Opossum.Gateway.GraphQL.Types;

public sealed class ChatInputType : InputObjectGraphType<ChatInput>
{
    public ChatInputType()
    {
        Name = "ChatInput";
        Field(x => x.Message);
        Field(x => x.ConversationId, type: typeof(IdGraphType));
        Field(x => x.Model, nullable: true);
        Field(x => x.ImageBase64, nullable: true);
        Field(x => x.NoCache, nullable: true).DefaultValue(false);
        Field(x => x.System, nullable: true).Description("Instructions for the model, replacing the server's configured system prompt (at most 32 KiB).");
        Field(x => x.Temperature, nullable: true).Description("Sampling temperature, 0 to 2; the model's default when omitted.");
        Field(x => x.TopP, nullable: true).Description("Nucleus sampling: above 0, at most 1.");
        Field(x => x.MaxTokens, nullable: true).Description("Most tokens the answer may have (at least 1); an answer cut there has finishReason \"length\".");
        Field(x => x.Stop, type: typeof(ListGraphType<NonNullGraphType<StringGraphType>>)).Description("Up to 4 sequences at which the model stops writing.");
        Field(x => x.Seed, type: typeof(IntGraphType)).Description("Asks the model to sample deterministically (where its backend supports it).");
        Field(x => x.JsonSchema, nullable: true).Description(
            "A JSON Schema (as a string) the answer must match: only models that take schemas answer, and an answer that does not match is never given out (the next model is tried, else INVALID_MODEL_OUTPUT).");
    }
}
