import Type, { type Static } from 'typebox';

export const UploadResult = Type.Object(
  {
    url: Type.String({ description: 'Absolute URL of the stored file (BASE_URL + /api/media/uploads/…)' }),
    filename: Type.String({ description: 'The original file name, sanitised' }),
    file_type: Type.Enum(['image', 'file'], { description: 'Which endpoint stored it: image or file' }),
  },
  {
    title: 'UploadResult',
    description: 'The stored file: send `url` as the content of an image or file message',
    examples: [
      {
        url: 'https://chat.example.com/api/media/uploads/2026/12/0193a6f5-aa11-7b22-8c33-d44e55f66a77.jpg',
        filename: '商品实拍.jpg',
        file_type: 'image',
      },
    ],
  },
);
export type UploadResult = Static<typeof UploadResult>;

/** For the OpenAPI document only: the handler reads the multipart stream itself. */
export const UploadBody = {
  content: {
    'multipart/form-data': {
      schema: Type.Object({
        file: Type.String({ format: 'binary', description: 'Exactly one file, in the field named "file"' }),
      }),
    },
  },
};
