// Runs a query, a mutation and a failing mutation with three widely used GraphQL clients, each as its
// documentation sets it up (urql's fetchExchange, Apollo Client's HttpLink, graphql-request's GraphQLClient),
// and prints one JSON line per operation:
//   {"client": "urql", "op": "query", "data": ..., "code": "MODEL_NOT_FOUND" | null, "contentType": "..."}
// The spec comes as the first argument: {"http": "http://host:port/graphql", "query": "...",
//   "mutation": "...", "variables": {...}, "failing": "...", "failingVariables": {...}}
// The clients are not changed; each is given a fetch that records the Content-Type of the answer it got.
// The process must end by itself with exit code 0: a client that crashes Node fails the test.
import { Client, fetchExchange } from '@urql/core';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLClient } from 'graphql-request';

const spec = JSON.parse(process.argv[2]);

let contentType = null;
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  contentType = response.headers.get('content-type');
  return response;
};

const print = (client, op, data, error) => process.stdout.write(JSON.stringify({ client, op, data: data ?? null, code: error, contentType }) + '\n');

// The first error code a client surfaced, from wherever that client puts a GraphQL response's errors.
const codeOf = (errors) => errors?.[0]?.extensions?.code ?? null;

const urql = new Client({ url: spec.http, exchanges: [fetchExchange], fetch: recordingFetch });
const apollo = new ApolloClient({ link: new HttpLink({ uri: spec.http, fetch: recordingFetch }), cache: new InMemoryCache() });
const graphqlRequest = new GraphQLClient(spec.http, { fetch: recordingFetch });

const clients = {
  urql: {
    query: async (doc, variables) => urql.query(doc, variables).toPromise(),
    mutate: async (doc, variables) => urql.mutation(doc, variables).toPromise(),
    // A CombinedError keeps the response's errors in graphQLErrors.
    read: (result) => ({ data: result.data, code: codeOf(result.error?.graphQLErrors) ?? (result.error ? String(result.error) : null) }),
  },
  apollo: {
    query: async (doc, variables) => apollo.query({ query: gql(doc), variables, fetchPolicy: 'no-cache' }),
    mutate: async (doc, variables) => apollo.mutate({ mutation: gql(doc), variables }),
    read: (result) => ({ data: result.data, code: codeOf(result.error?.errors) ?? (result.error ? String(result.error) : null) }),
    // Apollo Client 4 rejects with a CombinedGraphQLErrors whose errors are the response's.
    caught: (error) => codeOf(error?.errors),
  },
  'graphql-request': {
    query: async (doc, variables) => ({ data: await graphqlRequest.request(doc, variables) }),
    mutate: async (doc, variables) => ({ data: await graphqlRequest.request(doc, variables) }),
    read: (result) => ({ data: result.data, code: null }),
    // A ClientError carries the whole response.
    caught: (error) => codeOf(error?.response?.errors),
  },
};

for (const [name, client] of Object.entries(clients)) {
  for (const [op, run, doc, variables] of [
    ['query', client.query, spec.query, {}],
    ['mutation', client.mutate, spec.mutation, spec.variables],
    ['error', client.mutate, spec.failing, spec.failingVariables],
  ]) {
    contentType = null;
    try {
      const { data, code } = client.read(await run(doc, variables));
      print(name, op, data, code);
    } catch (error) {
      print(name, op, null, client.caught?.(error) ?? `threw ${error?.name}: ${error?.message}`);
    }
  }
}
