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
    }
}
